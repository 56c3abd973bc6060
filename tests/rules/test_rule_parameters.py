"""Every clinical number in the rules is a named parameter (issue 17, item 1).

Three guards: a rule's `when:` may not compare with a bare number (only the allow-listed
non-clinical ones); a number written in a rule's words must equal the parameter it describes, so
the text cannot drift from the test; and turning numbers into parameters changed no decision
(the rules before the conversion, from git, decide a synthetic population and every example the
same way).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from ldncds.engine import load_ruleset

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
# The last commit whose rules wrote the numbers inline (before this conversion).
NUMERIC_OPS = ("eq", "ne", "lt", "lte", "gt", "gte")

# Bare numbers a `when:` may still write, each with why it is not a clinical threshold.
COUNT_FACTS = {
    "summary": "counts of findings (hard stops, unknown criteria, ...): 0 or at least 1",
    "response_summary": "counts of outcome measures per response status: 0 or at least 1",
}
ALLOWED_BARE: dict[tuple[str, str, int], str] = {
    ("days_since", "gte", 0): "date order: a result dated after the evaluation date is not evidence",
    ("days_until", "gte", 0): "date order: a planned date already past is not a plan",
    ("days_since", "lt", 0): "date order: a date that may be after the evaluation date (a partial date)",
    (
        "value_num",
        "gt",
        0,
    ): "plausibility: a lab value of 0 or less is not a measurement, so it never qualifies",
}


def _tests(where: dict[str, Any]) -> list[tuple[str, str, Any]]:
    found = []
    for name, test in where.items():
        test = test if isinstance(test, dict) else {"eq": test}
        for op, ref in test.items():
            for value in ref if isinstance(ref, list) else [ref]:
                if op in NUMERIC_OPS + ("in",) and type(value) in (int, float):
                    found.append((name, op, value))
    return found


def _bare_numbers(rules_dir: Path) -> list[str]:
    manifest = yaml.safe_load((rules_dir / "ruleset.yaml").read_text())
    bad = []
    for name in manifest["files"]:
        data = yaml.safe_load((rules_dir / name).read_text())
        for rule in data["rules"]:
            for pattern in rule["when"]:
                if pattern["fact"] in COUNT_FACTS:
                    continue
                for field, op, value in _tests(pattern.get("where") or {}):
                    if (field, op, value) not in ALLOWED_BARE:
                        bad.append(f"{name} {rule['id']}: {field} {op} {value}")
            for key in ("washout_days", "flag_above_mg"):
                if type(rule["then"].get(key)) in (int, float):
                    bad.append(f"{name} {rule['id']}: then.{key} {rule['then'][key]}")
    return bad


def test_no_rule_compares_with_a_bare_clinical_number() -> None:
    assert _bare_numbers(RULES) == []


def test_a_bare_number_written_into_a_rule_is_caught(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = rules / "contraindications.yaml"
    text = path.read_text()
    assert "days_since_end: {lt: washout_short_days}" in text
    path.write_text(text.replace("days_since_end: {lt: washout_short_days}", "days_since_end: {lt: 7}", 1))
    assert _bare_numbers(rules) == ["contraindications.yaml CONTRA-OPIOID-WASHOUT-01: days_since_end lt 7"]


def test_the_allow_list_is_used() -> None:
    # An allow-list entry no rule needs any more is removed, not kept "just in case".
    used = set()
    manifest = yaml.safe_load((RULES / "ruleset.yaml").read_text())
    for name in manifest["files"]:
        for rule in yaml.safe_load((RULES / name).read_text())["rules"]:
            for pattern in rule["when"]:
                used |= set(_tests(pattern.get("where") or {})) & set(ALLOWED_BARE)
    assert used == set(ALLOWED_BARE)


# ---------------------------------------------------------------- words that repeat a parameter

# parameter -> (rule ids, how its value is written in the rule's words). "{v}" is the value,
# "{m}" the value in months (days / 30), "{w}" in weeks (days / 7).
WRITTEN: dict[str, tuple[tuple[str, ...], str]] = {
    "washout_short_days": (("CONTRA-OPIOID-WASHOUT-01", "CONTRA-OPIOID-WASHOUT-03"), "less than {v} days"),
    "washout_long_days": (("CONTRA-OPIOID-WASHOUT-02", "CONTRA-OPIOID-WASHOUT-04"), "less than {v} days"),
    "pain_duration_min_days": (("ELIG-DUR-01", "ELIG-DUR-05"), "more than {v} days"),
    "opioid_possibly_current_days": (("CHECK-OPIOID-ENDUNKNOWN-01",), "{v} days ago or less"),
    "adult_age_years": (("ELIG-ADULT-01",), "{v} or older"),
    "nsaid_trial_min_days": (("ELIG-NSAID-01", "ELIG-NSAID-07"), "{w} weeks ({v} days)"),
    "neuropathic_trial_min_days": (("ELIG-NEURO-01", "ELIG-NEURO-03"), "{w} weeks ({v} days)"),
    "pt_course_min_days": (("ELIG-PT-02",), "{w} weeks ({v} days)"),
    "depot_buprenorphine_washout_days": (("CONTRA-DEPOT-BUP-02",), "less than {v} days"),
    "naltrexone_depot_washout_days": (("CONTRA-NTX-DEPOT-02",), "less than {v} days"),
    "egfr_severe_below": (("CAUT-RENAL-03", "ELIG-NSAID-05"), "below {v} mL/min"),
    "phq9_moderate_depression_score": (("CAUT-DEPRESSION-02",), "{v} or more"),
    "surgery_planned_within_days": (("CAUT-SURGERY-01",), "next {v} days"),
}
# Words in the counterfactuals of the washout rules that restate both washouts.
WASHOUT_WORDS = re.compile(r"(\d+) days \(short-acting\) or (\d+) days \(long-acting\)")


def _words(rule: Any) -> str:
    return " ".join(str(t) for t in (rule.title, rule.statement, rule.counterfactual or ""))


def _phrase(template: str, value: float) -> str:
    return template.format(v=int(value), m=int(value) // 30, w=int(value) // 7)


def test_numbers_in_the_rule_words_equal_their_parameters() -> None:
    rs = load_ruleset(RULES)
    for name, (rule_ids, template) in WRITTEN.items():
        phrase = _phrase(template, rs.parameter(name))
        for rule_id in rule_ids:
            assert phrase in " ".join(_words(rs.rules[rule_id].rule).split()), (name, rule_id, phrase)
            uses = {u.parameter for u in rs.parameter_uses if u.rule_id == rule_id}
            assert name in uses, f"{rule_id} says {phrase!r} but does not test {name}"


def test_washouts_restated_in_counterfactuals_equal_the_parameters() -> None:
    rs = load_ruleset(RULES)
    expected = (rs.parameter("washout_short_days"), rs.parameter("washout_long_days"))
    restated = [m for lr in rs.rules.values() for m in WASHOUT_WORDS.findall(lr.rule.counterfactual or "")]
    assert restated, "the opioid counterfactuals restate both washouts"
    assert {tuple(int(n) for n in m) for m in restated} == {expected}


def test_a_parameter_edit_without_the_words_is_caught(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = rules / "ruleset.yaml"
    text = path.read_text()
    old = "  washout_short_days:\n    value: 7\n"
    assert old in text
    path.write_text(text.replace(old, "  washout_short_days:\n    value: 10\n"))
    rs = load_ruleset(rules, check_lock=False)
    phrase = _phrase(WRITTEN["washout_short_days"][1], rs.parameter("washout_short_days"))
    assert phrase not in _words(rs.rules["CONTRA-OPIOID-WASHOUT-01"].rule)  # the words now lag: caught


def test_every_instrument_has_a_scale_and_the_off_scale_note_names_it() -> None:
    ruleset = load_ruleset(RULES)
    instruments = {n for n in ruleset.valuesets.names if n.startswith("instrument_")}
    assert instruments
    for name in instruments:
        assert ruleset.parameter(f"{name}_scale_min") < ruleset.parameter(f"{name}_scale_max"), name
    [pattern] = ruleset.rules["CHECK-SCORE-SCALE-01"].rule.when
    assert set(pattern.where["off_scale_in"]["any_of"]) == instruments
