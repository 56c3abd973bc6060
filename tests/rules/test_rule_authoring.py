"""Rule authoring an informaticist can trust: each broken edit of issue 17 is refused, naming it.

Typed tests (numbers, parameters of the right unit, enumerations), stray keys with a suggestion,
the ruleset lock (truncated file, halved value set), one home per number (parameters), value-space
coverage of threshold splits, and the scenario gate; by `rules check` and by `serve` alike.
"""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.engine import Engine, PatientFacts, RulesetError, load_ruleset
from ldncds.engine.ruleschema import HardStopOutcome, ReminderOutcome, TitrationOutcome
from ldncds.engine.valuespace import check as value_space

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))


def _error(rules: Path) -> RulesetError:
    with pytest.raises(RulesetError) as info:
        load_ruleset(rules)
    return info.value


def _check(rules: Path, *extra: str):  # noqa: ANN202 - typer's Result
    return runner.invoke(app, ["rules", "check", "--rules", str(rules), *extra])


def _serve(rules: Path, tmp_path: Path):  # noqa: ANN202
    env = {"LDNCDS_RULES_DIR": str(rules), "LDNCDS_DATA_DIR": str(tmp_path / "data")}
    return runner.invoke(app, ["serve", "--port", "1"], env=env)


def _refused_by_check_and_serve(rules: Path, tmp_path: Path, *needles: str) -> None:
    for result in (_check(rules), _serve(rules, tmp_path)):
        assert result.exit_code == 2, result.output
        line = next(x for x in result.output.splitlines() if x.startswith("Rule files are invalid"))
        for needle in needles:
            assert needle in line, (needle, line)
        assert "Traceback" not in result.output
    assert not (tmp_path / "data").exists()  # serve refused before touching the store


# ---------------------------------------------------------------- A. typed rules


def test_a_word_in_a_numeric_comparison_is_refused(rules: Path, tmp_path: Path) -> None:
    # The positive-screen rule with `gte: zero` used to load and let a positive screen through.
    _edit(
        rules / "contraindications.yaml",
        "later_negative: false, days_since: {gte: 0}}",
        "later_negative: false, days_since: {gte: zero}}",
    )
    err = _error(rules)
    assert err.file == "contraindications.yaml" and err.rule_id == "CONTRA-SCREEN-01"
    assert "'zero'" in str(err) and "number" in str(err)
    _refused_by_check_and_serve(rules, tmp_path, "contraindications.yaml", "CONTRA-SCREEN-01", "zero")


def test_lt_seven_is_refused(rules: Path) -> None:
    _edit(
        rules / "contraindications.yaml",
        "days_since_end: {lt: washout_short_days}",
        "days_since_end: {lt: seven}",
    )
    err = _error(rules)
    assert err.rule_id == "CONTRA-OPIOID-WASHOUT-01" and "'seven'" in str(err)


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("exposure: current}", "exposure: active}", "'active' is never produced"),
        ("exposure: current}", "exposure: {gte: 3}}", "compare numbers"),
        ("exposure: current}", "exposure: 3}", "must be a word"),
        ("identified: false", "identified: no_idea", "true or false"),
    ],
)
def test_every_where_key_is_checked_against_its_type_and_words(
    rules: Path, old: str, new: str, needle: str
) -> None:
    path = rules / "contraindications.yaml"
    if old not in path.read_text():
        pytest.skip(f"{old!r} not in contraindications.yaml any more")
    _edit(path, old, new)
    err = _error(rules)
    assert err.file == "contraindications.yaml" and err.rule_id and needle in str(err)


def test_an_unknown_caution_word_is_refused(rules: Path) -> None:
    _edit(rules / "dosing.yaml", "caution: severe_renal_impairment}", "caution: severe_renal}")
    err = _error(rules)
    assert err.rule_id == "DOSE-START-LOW-RENAL-01" and "severe_renal" in str(err)


def test_errors_name_the_key_as_written(rules: Path) -> None:
    _edit(
        rules / "eligibility.yaml", "value_set: fibromyalgia, clinical", "value_sets: fibromyalgia, clinical"
    )
    err = _error(rules)
    assert "'value_sets'" in str(err) and "'value_set:'" in str(err)


def test_a_typo_in_a_key_names_the_stray_key_and_the_likely_one(rules: Path) -> None:
    _edit(rules / "dosing.yaml", "    when:\n", "    wehn:\n")
    err = _error(rules)
    assert err.rule_id == "DOSE-TITRATE-01"
    assert "unknown key 'wehn' (did you mean 'when'?)" in str(err)
    assert "Field required" not in str(err)


def test_a_parameter_of_the_wrong_unit_is_refused(rules: Path) -> None:
    _edit(rules / "monitoring.yaml", "from_days: week_12_from_day", "from_days: older_adult_age_years")
    err = _error(rules)
    assert err.rule_id == "MON-WEEK12-01" and "in years" in str(err) and "in days" in str(err)


def test_a_misspelt_parameter_is_refused_with_a_suggestion(rules: Path) -> None:
    _edit(rules / "monitoring.yaml", "from_days: week_12_from_day", "from_days: week_12_form_day")
    err = _error(rules)
    assert "did you mean 'week_12_from_day'?" in str(err)


# ---------------------------------------------------------------- B. integrity


def test_a_file_truncated_at_a_rule_boundary_is_refused(rules: Path, tmp_path: Path) -> None:
    path = rules / "contraindications.yaml"
    text = path.read_text()
    last = [m.start() for m in re.finditer(r"\n  - id: ", text)][-1]
    lost = re.search(r"id: (\S+)", text[last:]).group(1)  # type: ignore[union-attr]
    path.write_text(text[: last + 1])
    _refused_by_check_and_serve(rules, tmp_path, "contraindications.yaml", lost, "ldncds rules lock")


def test_a_halved_value_set_is_refused(rules: Path, tmp_path: Path) -> None:
    path = rules / "valuesets" / "opioid_agonists.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[: len(lines) // 2]))
    _refused_by_check_and_serve(rules, tmp_path, "valuesets/opioid_agonists.csv", "ldncds rules lock")


def test_lock_records_an_intended_change_and_prints_it(rules: Path) -> None:
    path = rules / "valuesets" / "opioid_agonists.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    with pytest.raises(RulesetError):
        load_ruleset(rules)
    result = runner.invoke(app, ["rules", "lock", "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    assert "valuesets/opioid_agonists.csv" in result.output and "1 change(s)" in result.output
    load_ruleset(rules)  # accepted now
    again = runner.invoke(app, ["rules", "lock", "--rules", str(rules)])
    assert again.exit_code == 0 and "no change" in again.output


def test_lock_refuses_a_broken_ruleset(rules: Path) -> None:
    _edit(rules / "dosing.yaml", "    when:\n", "    wehn:\n")
    result = runner.invoke(app, ["rules", "lock", "--rules", str(rules)])
    assert result.exit_code == 2 and "wehn" in result.output
    assert (
        "DOSE-TITRATE-01"
        in yaml.safe_load((rules / "ruleset.lock").read_text())["rule_files"]["dosing.yaml"]["rules"]
    )


def test_a_new_rule_needs_the_lock_updated(rules: Path) -> None:
    _edit(rules / "dosing.yaml", "id: DOSE-START-LOW-THYROID-01", "id: DOSE-START-LOW-THYROID-02")
    err = _error(rules)
    assert err.file == "dosing.yaml" and err.rule_id in {
        "DOSE-START-LOW-THYROID-01",
        "DOSE-START-LOW-THYROID-02",
    }


def test_a_display_wording_change_needs_no_new_lock(rules: Path) -> None:
    _edit(rules / "valuesets" / "fibromyalgia.csv", "Fibromyalgia", "Fibromyalgia syndrome")
    load_ruleset(rules)


def test_the_shipped_lock_matches_the_shipped_rules() -> None:
    result = runner.invoke(app, ["rules", "check"])
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- C. parameters


def test_one_parameter_edit_changes_every_use(rules: Path) -> None:
    text = (rules / "ruleset.yaml").read_text()
    (rules / "ruleset.yaml").write_text(
        text.replace("  week_12_from_day:\n    value: 84", "  week_12_from_day:\n    value: 85")
    )
    rs = load_ruleset(rules)
    dues = {
        rid: lr.rule.then.due.from_days
        for rid, lr in rs.rules.items()
        if isinstance(lr.rule.then, ReminderOutcome) and lr.rule.then.reminder == "week_12_response"
    }
    assert dues == {"MON-WEEK12-01": 85, "FU-MON-WEEK12-01": 85}
    uses = {u.rule_id for u in rs.parameter_uses if u.parameter == "week_12_from_day"}
    assert uses == set(dues)


def test_grace_days_default_is_a_parameter(rules: Path) -> None:
    _edit(
        rules / "ruleset.yaml",
        "  reminder_grace_days:\n    value: 14",
        "  reminder_grace_days:\n    value: 10",
    )
    rs = load_ruleset(rules)
    graces = {
        lr.rule.then.due.grace_days for lr in rs.rules.values() if isinstance(lr.rule.then, ReminderOutcome)
    }
    assert graces == {10}


def test_the_titration_flag_and_the_order_checks_share_one_number(rules: Path) -> None:
    rs = load_ruleset(ROOT / "rules")
    [titration] = [lr.rule.then for lr in rs.rules.values() if isinstance(lr.rule.then, TitrationOutcome)]
    assert titration.flag_above_mg == rs.parameter("ldn_studied_max_mg_per_day")


def test_derive_reads_the_course_gap_from_the_rules(rules: Path) -> None:
    # Two naltrexone orders 20 days apart: one course under a 30-day gap, two under the shipped 14.
    facts = PatientFacts.model_validate(
        {
            "medications": [
                {
                    "source": "MedicationRequest/a",
                    "codes": [{"system": "RxNorm", "code": "7243"}],
                    "status": "completed",
                    "start": "2025-10-01",
                    "end": "2025-12-01",
                    "daily_dose_mg": 3,
                },
                {
                    "source": "MedicationRequest/b",
                    "codes": [{"system": "RxNorm", "code": "7243"}],
                    "status": "active",
                    "start": "2025-12-21",
                    "daily_dose_mg": 4.5,
                },
            ]
        }
    )
    on = date(2026, 3, 1)

    def days_on(rs_dir: Path) -> int:
        engine = Engine(load_ruleset(rs_dir))
        return engine.assess(facts, on).therapy.weeks_on_therapy  # type: ignore[union-attr]

    shipped = days_on(ROOT / "rules")
    _edit(rules / "ruleset.yaml", "  course_gap_days:\n    value: 14", "  course_gap_days:\n    value: 30")
    assert days_on(rules) > shipped


def test_a_washout_told_and_a_washout_tested_must_agree(rules: Path, tmp_path: Path) -> None:
    # washout_days: 10 with the test still lt: 7 used to pass every check.
    path = rules / "contraindications.yaml"
    _edit(
        path,
        "then: {hard_stop: current_opioid_agonist, washout_days: washout_short_days}",
        "then: {hard_stop: current_opioid_agonist, washout_days: 10}",
    )
    err = _error(rules)
    assert err.rule_id == "CONTRA-OPIOID-WASHOUT-01" and "washout_days 10" in str(err)
    _refused_by_check_and_serve(rules, tmp_path, "CONTRA-OPIOID-WASHOUT-01", "washout_days 10")


def test_every_washout_is_consistent_in_the_shipped_rules() -> None:
    rs = load_ruleset(ROOT / "rules")
    washouts = [
        lr
        for lr in rs.rules.values()
        if isinstance(lr.rule.then, HardStopOutcome) and lr.rule.then.washout_days
    ]
    assert len(washouts) >= 4  # checked at load: reaching here means each agrees with its test


# ---------------------------------------------------------------- D. value-space coverage


def test_the_shipped_threshold_splits_have_no_gap_or_overlap() -> None:
    assert value_space(load_ruleset(ROOT / "rules")) == []


def test_a_one_place_duration_change_opens_a_gap_named_by_rule_and_range(rules: Path, tmp_path: Path) -> None:
    _edit(
        rules / "eligibility.yaml",
        "duration_days_min: {gt: pain_duration_min_days}",
        "duration_days_min: {gt: 120}",
    )
    [first, *_] = value_space(load_ruleset(rules))
    assert first.kind == "gap" and first.criterion == "pain_duration" and "ELIG-DUR-01" in first.rules
    assert "from 91 to 120" in str(first)
    _refused_by_check_and_serve(
        rules, tmp_path, "eligibility.yaml", "pain_duration", "ELIG-DUR-01", "91 to 120"
    )


def test_a_one_place_duration_change_the_other_way_is_an_overlap(rules: Path) -> None:
    _edit(
        rules / "eligibility.yaml",
        "duration_days_max: {lte: pain_duration_min_days}",
        "duration_days_max: {lte: 120}",
    )
    problems = value_space(load_ruleset(rules))
    assert {p.kind for p in problems} == {"overlap"}
    assert any(set(p.rules) == {"ELIG-DUR-01", "ELIG-DUR-02"} for p in problems)


def test_an_age_gap_is_found(rules: Path) -> None:
    _edit(rules / "eligibility.yaml", "age_max: {lt: adult_age_years}", "age_max: {lt: 17}")
    [gap] = value_space(load_ruleset(rules))
    assert gap.criterion == "adult" and "age = 17" in str(gap)


# ---------------------------------------------------------------- E/F. scenarios


def test_rules_check_with_scenarios_names_the_failing_scenario(rules: Path) -> None:
    # A consistent but different washout (the parameter, so test and text) passes every static
    # check; only the scenarios pin 7 days.
    _edit(
        rules / "ruleset.yaml", "  washout_short_days:\n    value: 7", "  washout_short_days:\n    value: 10"
    )
    assert _check(rules).exit_code == 0
    result = _check(rules, "--scenarios")
    assert result.exit_code == 2
    line = next(x for x in result.output.splitlines() if x.startswith("Rule files are invalid"))
    # The first failing scenario is named, with its feature file and the failed expectation.
    assert "scenario failed: " in line and ".feature: " in line
    assert re.search(r"washout.*: failed \(AssertionError: .+\)", line) or "expected 2026-03-0" in line


def test_rules_check_with_scenarios_passes_on_the_shipped_rules() -> None:
    result = runner.invoke(app, ["rules", "check", "--scenarios"])
    assert result.exit_code == 0, result.output
    assert re.search(r"scenarios: \d+ passed in [\d.]+ s", result.output)


def test_scenarios_on_broken_rules_print_one_error(rules: Path) -> None:
    _edit(rules / "dosing.yaml", "    when:\n", "    wehn:\n")
    result = runner.invoke(app, ["scenarios", "--rules", str(rules)])
    assert result.exit_code == 2
    assert result.output.count("wehn") == 1 and "failed" not in result.output


def test_scenarios_replay_the_http_contract_and_the_rulebook_counts_the_same(tmp_path: Path) -> None:
    from ldncds.bdd.commands import auditor_features
    from ldncds.pages.rulebook import features_dir_of, rulebook_view

    result = runner.invoke(app, ["scenarios", str(ROOT / "features" / "cds_hooks.feature")])
    assert result.exit_code == 0, result.output
    assert "StepDefinitionNotFound" not in result.output and " 0 failed" in result.output
    rs = load_ruleset(ROOT / "rules")
    from ldncds.bdd.coverage import scenario_rules

    runs = sum(len(scenario_rules(f)) for f in auditor_features())
    assert any(f.name == "cds_hooks.feature" for f in auditor_features())
    assert rulebook_view(rs, features_dir_of(rs))["scenario_count"] == runs


def test_the_scenario_table_never_cuts_a_rule_id() -> None:
    result = runner.invoke(
        app,
        ["scenarios", str(ROOT / "features" / "rules" / "contraindications.feature")],
        env={"COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.output
    assert "CONTRA-OPIOID-WASHOUT-01" in result.output and "…" not in result.output


def test_the_rulebook_lists_every_parameter_with_value_unit_and_source() -> None:
    from ldncds.pages.rulebook import features_dir_of, rulebook_view

    rs = load_ruleset(ROOT / "rules")
    rows = {p["name"]: p for p in rulebook_view(rs, features_dir_of(rs))["parameters"]}
    assert set(rows) == set(rs.parameters)
    week12 = rows["week_12_from_day"]
    assert (week12["value"], week12["unit"]) == ("84", "days") and week12["source"]
    assert {r["id"] for r in week12["rules"]} == {"MON-WEEK12-01", "FU-MON-WEEK12-01"}


def test_assess_never_cuts_a_source_or_a_rule_id() -> None:
    args = [
        "assess",
        str(ROOT / "examples" / "contraindicated_tramadol_washout.json"),
        "--date",
        "2026-03-01",
    ]
    result = runner.invoke(app, [*args, "--no-store"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    assert "CONTRA-OPIOID-WASHOUT-01" in result.output and "CHECK-RECORDS-01" in result.output
