"""Every rule in rules/ is proven by at least one Gherkin scenario that cites it.

The citing step ('And the explanation cites rule X') asserts at run time that the rule fired, so
a rule counts as covered only when a scenario both names it and makes it fire.
"""

from pathlib import Path

from ldncds.bdd.coverage import rules_proven, scenario_rules
from ldncds.engine import load_ruleset

ROOT = Path(__file__).resolve().parents[2]


def test_every_rule_has_a_scenario() -> None:
    ruleset = load_ruleset(ROOT / "rules")
    proven = rules_proven(ROOT / "features")
    missing = sorted(set(ruleset.rules) - set(proven))
    assert not missing, f"rules without a Gherkin scenario: {missing}"


def test_scenarios_cite_only_existing_rules() -> None:
    ruleset = load_ruleset(ROOT / "rules")
    unknown = sorted(set(rules_proven(ROOT / "features")) - set(ruleset.rules))
    assert not unknown, f"scenarios cite rules that do not exist: {unknown}"


def test_deleting_a_scenario_is_noticed(tmp_path: Path) -> None:
    # Copy the features, drop the only scenario proving CONTRA-SCREEN-02, and the check must fail.
    src = ROOT / "features" / "rules" / "contraindications.feature"
    text = src.read_text()
    start = text.index("  Scenario: A preliminary positive opiate screen")
    end = text.index("  Scenario:", start + 10)
    (tmp_path / "contraindications.feature").write_text(text[:start] + text[end:])
    for other in (ROOT / "features" / "rules").glob("*.feature"):
        if other.name != src.name:
            (tmp_path / other.name).write_text(other.read_text())
    assert "CONTRA-SCREEN-02" in rules_proven(ROOT / "features")
    assert "CONTRA-SCREEN-02" not in rules_proven(tmp_path)
    assert "A preliminary positive opiate screen waits for the final result" in scenario_rules(src)
