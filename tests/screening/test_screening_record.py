"""`ldncds screen --record`: screening decisions in the decision log, only as they were reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.store import open_store
from support.screening import candidate, write_export

ON = "2026-03-01"
runner = CliRunner()


def _export(folder: Path) -> Path:
    guarded = candidate("p3")  # an unreadable procedure: the screening guard refuses candidacy
    guarded["Procedure"].append(
        {
            "resourceType": "Procedure",
            "id": "p3-bad",
            "status": "completed",
            "subject": {"reference": "Patient/p3"},
            "performedDateTime": "not a date",
        }
    )
    return write_export(folder, [candidate("p1"), candidate("p2"), guarded])


def screen(tmp_path: Path, *extra: str) -> tuple[list[dict], str]:
    out = tmp_path / "rows.ndjson"
    args = ["screen", str(_export(tmp_path / "x")), "--date", ON, "--out", str(out), *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out.read_text().splitlines()], result.output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_each_reported_decision_is_in_the_decision_log(tmp_path: Path, workers: str) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    summary = tmp_path / "summary.json"
    rows, output = screen(
        tmp_path, "--record", "--database-url", url, "--workers", workers, "--summary", str(summary)
    )
    by_patient = {r["patient"]: r for r in rows}
    assert by_patient["p3"]["decision"] == "insufficient_information"  # guarded: not what the engine said
    assert by_patient["p3"]["assessment_id"] is None
    store = open_store(url, create=False)
    for pid in ("p1", "p2"):
        stored = store.get(by_patient[pid]["assessment_id"])
        assert stored is not None
        assert stored.decision == by_patient[pid]["decision"] == "candidate"
        assert stored.caller.channel == "screening"
    assert "2 assessments recorded" in output and "1 not recorded" in output
    assert json.loads(summary.read_text())["recorded_in_decision_log"] == 2
    verify = runner.invoke(app, ["audit", "verify", "--database-url", url])
    assert verify.exit_code == 0 and "intact: 2 records" in verify.output
    replay = runner.invoke(app, ["audit", "replay", "--all", "--database-url", url])
    assert replay.exit_code == 0, replay.output  # screening decisions replay identically


def test_without_record_nothing_is_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LDNCDS_DATA_DIR", str(tmp_path / "data"))
    rows, output = screen(tmp_path, "--workers", "1")
    assert all(r["assessment_id"] is None for r in rows)
    assert not (tmp_path / "data" / "ldncds.db").exists()
    assert "decision log" not in output


def test_an_unreachable_log_stops_before_screening(tmp_path: Path) -> None:
    folder = _export(tmp_path / "x")
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = runner.invoke(app, ["screen", str(folder), "--date", ON, "--record", "--database-url", url])
    assert result.exit_code == 2 and "Cannot open the decision log" in result.output
