"""Every example patient prints its human-readable assessment, and together they cover every decision.

The examples are named after the decision they show (README: one per decision). Running the real
`ldncds assess` command, with the audit store on, catches a printer that crashes after the
assessment was stored (issue 18 item 14: every on_therapy result did).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ldncds import cli
from ldncds.cli import app
from ldncds.engine.vocabulary import DECISIONS

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.json"))
ON = "2026-03-01"  # the evaluation date the README uses for the examples


def _named_decision(path: Path) -> str:
    # Longest match first: "candidate_with_cautions_x" is not a plain "candidate".
    for decision in sorted(DECISIONS, key=len, reverse=True):
        if path.stem == decision or path.stem.startswith(decision + "_"):
            return decision
    raise AssertionError(f"{path.name} is not named after a decision {DECISIONS}")


def test_there_is_an_example_for_every_decision() -> None:
    assert {_named_decision(p) for p in EXAMPLES} == set(DECISIONS)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_assess_prints_every_example(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LDNCDS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LDNCDS_DATABASE_URL", raising=False)
    monkeypatch.setattr(cli.console, "_width", 200)  # wide enough that no cited value is wrapped
    runner = CliRunner()
    human = runner.invoke(app, ["assess", str(path), "--date", ON], terminal_width=200)
    assert human.exit_code == 0, human.output + repr(human.exception)
    decision = _named_decision(path)
    assert human.output.startswith(decision.upper() + " — ")
    assert "(recorded in the audit store)" in human.output
    assert "Criteria" in human.output
    as_json = runner.invoke(app, ["assess", str(path), "--date", ON, "--json", "--no-store"])
    assert as_json.exit_code == 0, as_json.output
    result = json.loads(as_json.output)
    assert result["decision"] == decision
    for rule_id in [
        result["explanation"]["rule_id"],
        *(h["explanations"][0]["rule_id"] for h in result.get("hard_stops", [])),
    ]:
        assert rule_id in human.output
    for c in result["criteria"]:  # a result a criterion was decided from is shown with its value
        for f in (f for e in c.get("explanations", []) for f in e["facts"] if f["kind"] == "observation"):
            value = f["detail"].split("; ")[1]  # "<code>; <value>; status <status>"
            assert value in human.output, (value, c["id"])
    if decision == "on_therapy":
        assert f"On naltrexone: {result['therapy']['daily_dose_mg']:g} mg/day" in human.output
        assert f"Response: {result['therapy']['response_status']}" in human.output
