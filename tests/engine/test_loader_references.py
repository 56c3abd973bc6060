"""Every name a rule uses must exist: the loader's reference check names the file, rule and name.

Each case breaks one reference of the shipped rules in memory (no files copied) and runs the check
the loader runs after linking the rule files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ldncds.engine import LoadedRuleset, RulesetError, load_ruleset
from ldncds.engine.loader import _check_references

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ruleset() -> LoadedRuleset:
    return load_ruleset(ROOT / "rules")


def _with_rule(rs: LoadedRuleset, rule_id: str, **update: Any) -> LoadedRuleset:
    lr = rs.rules[rule_id]
    return replace(rs, rules={**rs.rules, rule_id: replace(lr, rule=lr.rule.model_copy(update=update))})


def _where(rs: LoadedRuleset, rule_id: str, where: dict[str, Any], fact: str | None = None) -> LoadedRuleset:
    first, *rest = rs.rules[rule_id].rule.when
    changed = first.model_copy(update={"where": where} | ({"fact": fact} if fact else {}))
    return _with_rule(rs, rule_id, when=[changed, *rest])


def _then(rs: LoadedRuleset, rule_id: str, **update: Any) -> LoadedRuleset:
    return _with_rule(rs, rule_id, then=rs.rules[rule_id].rule.then.model_copy(update=update))


FM = {"value_set": "fibromyalgia", "clinical": "current", "verification": "confirmed"}
NRS = {"instrument": "instrument_pain_nrs", "change_pct": {"lte": -50}}

CASES: dict[str, tuple[Callable[[LoadedRuleset], LoadedRuleset], str, str, str]] = {
    # name: (break the rules, file, rule, message)
    "value set": (
        lambda rs: _where(rs, "ELIG-DX-FM-01", FM | {"value_set": "fibromyalgie"}),
        "eligibility.yaml",
        "ELIG-DX-FM-01",
        "unknown value set 'fibromyalgie'",
    ),
    "value set in any_of": (
        lambda rs: _where(rs, "CAUT-PREG-01", {"value_set": {"any_of": ["pregnancy", "pregnance"]}}),
        "cautions.yaml",
        "CAUT-PREG-01",
        "unknown value set 'pregnance'",
    ),
    "fact of the other phase": (
        lambda rs: _where(rs, "ELIG-DX-FM-01", {"hard_stops": {"gte": 1}}, fact="summary"),
        "eligibility.yaml",
        "ELIG-DX-FM-01",
        "cannot read 'summary' facts",
    ),
    "criterion": (
        lambda rs: _then(rs, "ELIG-DX-FM-01", criterion="qualifying_diagnosys"),
        "eligibility.yaml",
        "ELIG-DX-FM-01",
        "unknown criterion 'qualifying_diagnosys'",
    ),
    "text match that qualifies": (
        lambda rs: _where(rs, "ELIG-DX-FM-01", {"text_value_set": "fibromyalgia"}),
        "eligibility.yaml",
        "ELIG-DX-FM-01",
        "never qualify",
    ),
    "hard stop": (
        lambda rs: _then(rs, "CONTRA-OPIOID-01", hard_stop="curent_opioid"),
        "contraindications.yaml",
        "CONTRA-OPIOID-01",
        "unknown hard stop 'curent_opioid'",
    ),
    "caution": (
        lambda rs: _then(rs, "CAUT-PREG-01", caution="pregnant"),
        "cautions.yaml",
        "CAUT-PREG-01",
        "unknown caution 'pregnant'",
    ),
    "done_when value set": (
        lambda rs: _then(rs, "FU-MON-TSH-01", done_when="lab_tsh_free"),
        "follow_up.yaml",
        "FU-MON-TSH-01",
        "unknown value set 'lab_tsh_free' in done_when",
    ),
    "instrument word": (
        lambda rs: _where(rs, "RESP-PAIN-SUBSTANTIAL-01", NRS | {"instrument": "instrument_pain_vas"}),
        "therapy.yaml",
        "RESP-PAIN-SUBSTANTIAL-01",
        "'instrument_pain_vas' is not one of",
    ),
    "first mistake of a rule is named": (
        lambda rs: _then(
            _where(rs, "ELIG-DX-FM-01", FM | {"value_set": "fibromyalgie"}), "ELIG-DX-FM-01", criterion="x"
        ),
        "eligibility.yaml",
        "ELIG-DX-FM-01",
        "unknown value set 'fibromyalgie'",
    ),
}


def test_the_shipped_rules_name_only_what_exists(ruleset: LoadedRuleset) -> None:
    _check_references(ruleset)  # raises on the first unknown name


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unknown_name_is_refused_naming_file_rule_and_name(ruleset: LoadedRuleset, case: str) -> None:
    broken, file, rule_id, message = CASES[case]
    with pytest.raises(RulesetError) as info:
        _check_references(broken(ruleset))
    assert (info.value.file, info.value.rule_id) == (file, rule_id)
    assert message in str(info.value)


def test_an_unknown_pathway_of_a_criterion_is_refused(ruleset: LoadedRuleset) -> None:
    crit = next(c for c in ruleset.criteria.values() if c.applies_to_pathways)
    changed = crit.model_copy(update={"applies_to_pathways": ["cervical"]})
    with pytest.raises(RulesetError) as info:
        _check_references(replace(ruleset, criteria={**ruleset.criteria, crit.id: changed}))
    assert info.value.file == "eligibility"  # as the loader has always named it (no .yaml)
    assert f"criterion {crit.id}: unknown pathway 'cervical'" in str(info.value)
