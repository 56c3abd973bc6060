"""Replay: stored decisions decided again, identical under the same rules, a readable diff otherwise."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.engine import Engine, PatientFacts
from ldncds.store import Caller, SqlStore, open_store, record_assessment
from ldncds.store.replay import replay
from support.store import copy_rules, edit_rule, set_opioid_washout, sqlite_url

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ON = date(2026, 3, 1)
runner = CliRunner()


def washout_patient() -> PatientFacts:
    """The candidate example plus oxycodone stopped 20 days before ON: outside a 7-day washout."""
    data = json.loads((EXAMPLES / "candidate.json").read_text())
    data["medications"].append(
        {
            "source": "MedicationRequest/oxy-1",
            "codes": [{"system": "RxNorm", "code": "7804", "display": "oxycodone"}],
            "status": "completed",
            "start": "2026-01-10",
            "end": "2026-02-09",
        }
    )
    return PatientFacts.model_validate(data)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture(scope="module")
def stricter_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    rules = copy_rules(tmp_path_factory.mktemp("rules30") / "rules")
    edit_rule(rules, "CONTRA-OPIOID-WASHOUT-01", set_opioid_washout(30))
    return Engine(rules)


@pytest.fixture
def store(tmp_path: Path, engine: Engine) -> SqlStore:
    store = open_store(sqlite_url(tmp_path))
    for path in sorted(EXAMPLES.glob("*.json")):
        facts = PatientFacts.model_validate_json(path.read_bytes())
        record_assessment(
            store,
            facts,
            engine.assess(facts, ON),
            path.read_bytes(),
            Caller(channel="cli"),
            engine.ruleset.content_hash,
        )
    facts = washout_patient()
    record_assessment(
        store, facts, engine.assess(facts, ON), b"{}", Caller(channel="api"), engine.ruleset.content_hash
    )
    return store


def test_every_stored_decision_replays_identically_under_its_rules(store: SqlStore, engine: Engine) -> None:
    results = replay(store, engine, None)
    assert len(results) == store.count() >= 6
    assert {r.stored_decision for r in results} >= {"candidate", "contraindicated", "not_candidate"}
    assert all(r.identical and r.same_rules for r in results), [r for r in results if not r.identical]


def test_a_stricter_washout_changes_exactly_the_affected_decision(
    store: SqlStore, stricter_engine: Engine
) -> None:
    results = replay(store, stricter_engine, None)
    changed = [r for r in results if r.stored_decision != r.replayed_decision]
    assert len(changed) == 1
    r = changed[0]
    assert (r.stored_decision, r.replayed_decision) == ("candidate", "contraindicated")
    assert not r.same_rules
    assert "decision: candidate -> contraindicated" in r.differences
    assert "earliest start: none -> 2026-03-11" in r.differences
    assert "hard stop now: current_opioid_agonist (MedicationRequest/oxy-1)" in r.differences
    assert "rule fired now: CONTRA-OPIOID-WASHOUT-01" in r.differences
    assert any(d.startswith("reminder no longer: week_1_2_check due 2026-03-08") for d in r.differences)
    # Patients already inside a washout keep their decision, but now wait 30 days: a difference too.
    later = [r for r in results if r not in changed and not r.identical]
    assert later and all(r.replayed_decision == "contraindicated" for r in later)
    assert all(any(d.startswith("earliest start:") for d in r.differences) for r in later)


def test_replaying_specific_ids_and_an_unknown_one(store: SqlStore, engine: Engine) -> None:
    first = next(store.iter_all())
    results = replay(store, engine, [first.id, "not-an-id"])
    assert results[0].identical and results[0].seq == 1
    assert not results[1].identical and results[1].error == "no such assessment in the log"


def test_cli_replay_all_passes_then_fails_with_a_diff_under_other_rules(
    store: SqlStore, stricter_engine: Engine
) -> None:
    url = store.url
    ok = runner.invoke(app, ["audit", "replay", "--all", "--database-url", url])
    assert ok.exit_code == 0, ok.output
    assert f"{store.count()} identical, 0 different" in ok.output

    rules = str(stricter_engine.ruleset.directory)
    bad = runner.invoke(app, ["audit", "replay", "--all", "--rules", rules, "--database-url", url])
    assert bad.exit_code == 1
    assert "different" in bad.output and "candidate -> contraindicated" in bad.output
    assert "decided by another ruleset" in bad.output  # the content hash differs: warned


def test_cli_replay_one_id_as_json(store: SqlStore) -> None:
    last = store.list(limit=1)[0]
    result = runner.invoke(app, ["audit", "replay", last.id, "--json", "--database-url", store.url])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body[0]["assessment_id"] == last.id and body[0]["differences"] == []


def test_cli_replay_needs_ids_or_all(store: SqlStore) -> None:
    assert runner.invoke(app, ["audit", "replay", "--database-url", store.url]).exit_code == 2


def test_replay_uses_the_stored_plan_start(tmp_path: Path, engine: Engine) -> None:
    """Reminders count from the planned start; a replay must use the one the caller gave."""
    store = open_store(sqlite_url(tmp_path))
    facts = PatientFacts.model_validate_json((EXAMPLES / "candidate.json").read_bytes())
    planned = engine.assess(facts, ON, planned_start=date(2026, 4, 1))
    record_assessment(store, facts, planned, b"{}", Caller(channel="api"), engine.ruleset.content_hash)
    [result] = replay(store, engine, None)
    assert result.identical, result.differences
