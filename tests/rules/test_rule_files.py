"""Rule files are validated at load: every kind of mistake stops start-up naming the file and rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.engine import Engine, RulesetError, load_ruleset

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _error(rules: Path) -> RulesetError:
    with pytest.raises(RulesetError) as info:
        load_ruleset(rules)
    return info.value


def test_the_shipped_rules_load_and_compile() -> None:
    ruleset = load_ruleset(ROOT / "rules")
    assert len(ruleset.rules) > 80 and ruleset.version.startswith("1.0.0+")
    assert Engine(ruleset).version == ruleset.version


def test_unknown_key_is_rejected_naming_file_and_rule(rules: Path) -> None:
    _edit(
        rules / "eligibility.yaml",
        "    title: Patient is an adult\n",
        "    title: Patient is an adult\n    priority: 3\n",
    )
    err = _error(rules)
    assert err.file == "eligibility.yaml" and err.rule_id == "ELIG-ADULT-01"
    assert "priority" in str(err)


def test_typo_in_a_field_name_is_rejected(rules: Path) -> None:
    _edit(
        rules / "contraindications.yaml",
        "{value_set: opioid_agonists, exposure: current}",
        "{value_set: opioid_agonists, exposure_: current}",
    )
    err = _error(rules)
    assert err.file == "contraindications.yaml" and err.rule_id == "CONTRA-OPIOID-01"
    assert "exposure_" in str(err)


def test_unknown_value_set_is_rejected(rules: Path) -> None:
    _edit(
        rules / "eligibility.yaml", "value_set: fibromyalgia, clinical", "value_set: fibromyalgie, clinical"
    )
    err = _error(rules)
    assert err.rule_id == "ELIG-DX-FM-01" and "fibromyalgie" in str(err)


def test_bad_code_system_in_a_value_set_is_rejected(rules: Path) -> None:
    path = rules / "valuesets" / "fibromyalgia.csv"
    path.write_text(path.read_text() + "ICD-9,729.1,Myalgia and myositis,exact,test\n")
    err = _error(rules)
    assert err.file == "valuesets/fibromyalgia.csv" and "ICD-9" in str(err)


def test_duplicate_rule_id_is_rejected(rules: Path) -> None:
    _edit(rules / "cautions.yaml", "id: CAUT-PREG-02", "id: CAUT-PREG-01")
    err = _error(rules)
    assert err.rule_id == "CAUT-PREG-01" and "duplicate" in str(err)


def test_text_match_can_never_qualify_a_patient(rules: Path) -> None:
    _edit(rules / "eligibility.yaml", "value_set: neuropathic_agents\n", "text_value_set: opioid_agonists\n")
    err = _error(rules)
    assert err.rule_id == "ELIG-NEURO-01" and "never qualify" in str(err)


def test_unknown_operator_and_missing_evidence_are_rejected(rules: Path) -> None:
    _edit(rules / "decision.yaml", "{hard_stops: {gte: 1}}", "{hard_stops: {above: 1}}")
    assert "above" in str(_error(rules))
    shutil.copy(ROOT / "rules" / "decision.yaml", rules / "decision.yaml")
    text = (rules / "dosing.yaml").read_text()
    (rules / "dosing.yaml").write_text(text.replace('pmid: "19453963"', "grade: pilot"))
    assert "pmid, doi or url" in str(_error(rules))


def test_yaml_syntax_error_names_the_file(rules: Path) -> None:
    (rules / "monitoring.yaml").write_text("rules: [unclosed\n")
    err = _error(rules)
    assert err.file == "monitoring.yaml" and "YAML" in str(err)


def test_a_conclusion_rule_cannot_read_patient_records(rules: Path) -> None:
    _edit(
        rules / "decision.yaml",
        "      - fact: summary\n        where: {hard_stops: {gte: 1}}",
        "      - fact: medication\n        where: {exposure: current}",
    )
    assert "cannot read 'medication'" in str(_error(rules))


def test_rule_files_not_in_the_manifest_are_rejected(rules: Path) -> None:
    shutil.copy(rules / "dosing.yaml", rules / "dosing-copy.yaml")
    assert "not listed" in str(_error(rules))


def test_content_hash_changes_with_any_edit(rules: Path) -> None:
    before = load_ruleset(rules).version
    _edit(rules / "valuesets" / "fibromyalgia.csv", "Fibromyalgia", "Fibromyalgia syndrome")
    assert load_ruleset(rules).version != before


def test_rules_check_command_reports_the_typo(rules: Path) -> None:
    _edit(rules / "cautions.yaml", "caution: planned_surgery}", "caution: planed_surgery}")
    result = CliRunner().invoke(app, ["rules", "check", "--rules", str(rules)])
    assert result.exit_code == 2
    assert "cautions.yaml" in result.output and "CAUT-SURGERY-01" in result.output
    assert "planed_surgery" in result.output


def test_rules_check_and_list_pass_on_the_shipped_rules() -> None:
    runner = CliRunner()
    check = runner.invoke(app, ["rules", "check", "--rules", str(ROOT / "rules")])
    assert check.exit_code == 0 and "OK" in check.output
    listing = runner.invoke(app, ["rules", "list", "--json", "--rules", str(ROOT / "rules")])
    assert listing.exit_code == 0 and '"CONTRA-OPIOID-01"' in listing.output
