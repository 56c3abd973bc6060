"""The decision store: what is recorded, read back, filtered and deduplicated (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from ldncds.engine import Engine, PatientFacts
from ldncds.store import (
    Caller,
    DuplicateAssessmentError,
    StoreError,
    open_store,
    record_assessment,
)
from ldncds.store.migrate import VERSION_TABLE, current_revision, head_revision
from support.store import sqlite_url, store_url  # noqa: F401

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ON = date(2026, 3, 1)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def _record(store, engine: Engine, name: str = "candidate.json", on: date = ON, caller: Caller | None = None):
    raw = (EXAMPLES / name).read_bytes()
    facts = PatientFacts.model_validate_json(raw)
    assessment = engine.assess(facts, on)
    stored = record_assessment(
        store, facts, assessment, raw, caller or Caller(channel="cli"), engine.ruleset.content_hash
    )
    return raw, facts, assessment, stored


def test_record_keeps_everything_needed_to_audit(store_url: str, engine: Engine) -> None:  # noqa: F811
    store = open_store(store_url)
    caller = Caller(
        channel="cds-hooks", service_id="ldn-candidacy", hook_instance="hi-1", issuer="https://ehr"
    )
    raw, facts, assessment, stored = _record(store, engine, caller=caller)

    assert assessment.assessment_id == stored.id and len(stored.id) == 36  # uuid4 given by the helper
    got = store.get(stored.id)
    assert got is not None
    assert got.seq == 1
    assert got.caller == caller
    assert got.input_digest == hashlib.sha256(raw).hexdigest()
    assert got.facts == facts.model_dump(mode="json")
    assert PatientFacts.model_validate(got.facts) == facts
    assert got.assessment == assessment.model_dump(mode="json")
    assert got.decision == assessment.decision == "candidate"
    assert got.evaluation_date == ON
    assert got.ruleset_version == engine.version
    assert got.ruleset_hash == engine.ruleset.content_hash
    assert got.created_at.tzinfo is not None
    assert store.get("no-such-id") is None
    store.close()


def test_records_survive_reopening_and_keep_their_order(store_url: str, engine: Engine) -> None:  # noqa: F811
    store = open_store(store_url)
    ids = [_record(store, engine)[3].id for _ in range(3)]
    store.close()
    again = open_store(store_url)
    assert [again.get(i).seq for i in ids] == [1, 2, 3]  # type: ignore[union-attr]
    assert again.count() == 3
    assert [s.id for s in again.iter_all()] == ids
    again.close()


def test_list_filters_on_decision_date_and_ruleset(store_url: str, engine: Engine) -> None:  # noqa: F811
    store = open_store(store_url)
    a = _record(store, engine, "candidate.json", date(2026, 3, 1))[3]
    b = _record(store, engine, "contraindicated_buprenorphine.json", date(2026, 3, 5))[3]
    c = _record(store, engine, "not_candidate_axial_back_pain.json", date(2026, 4, 1))[3]

    assert [s.id for s in store.list()] == [c.id, b.id, a.id]  # newest first
    assert [s.id for s in store.list(decision="contraindicated")] == [b.id]
    assert [s.id for s in store.list(date_from=date(2026, 3, 2))] == [c.id, b.id]
    assert [s.id for s in store.list(date_to=date(2026, 3, 5))] == [b.id, a.id]
    assert [s.id for s in store.list(date_from=date(2026, 3, 5), date_to=date(2026, 3, 5))] == [b.id]
    assert [s.id for s in store.list(limit=1, offset=1)] == [b.id]
    assert store.list(ruleset_version="0.0.0+nothing") == []
    assert len(store.list(ruleset_version=engine.version)) == 3
    store.close()


def test_recording_the_same_assessment_twice_stores_it_once(store_url: str, engine: Engine) -> None:  # noqa: F811
    store = open_store(store_url)
    raw, facts, assessment, first = _record(store, engine)
    caller, ruleset_hash = Caller(channel="cli"), engine.ruleset.content_hash
    again = record_assessment(store, facts, assessment, raw, caller, ruleset_hash)
    assert again.id == first.id and again.seq == first.seq
    assert store.count() == 1

    other = engine.assess(facts, date(2026, 6, 1)).model_copy(update={"assessment_id": first.id})
    with pytest.raises(DuplicateAssessmentError):
        record_assessment(store, facts, other, raw, Caller(channel="cli"), engine.ruleset.content_hash)
    assert store.count() == 1
    store.close()


def test_record_rejects_an_assessment_without_its_essentials(store_url: str) -> None:  # noqa: F811
    store = open_store(store_url)
    with pytest.raises(ValueError, match="evaluation_date"):
        no_date = {"decision": "candidate", "ruleset_version": "1"}
        store.record(
            assessment_id="x",
            facts={},
            assessment=no_date,
            raw_input=b"{}",
            caller=Caller(channel="cli"),
            ruleset_hash="h",
        )
    assert store.count() == 0
    store.close()


def test_feedback_is_idempotent_and_attached_to_its_card(store_url: str, engine: Engine) -> None:  # noqa: F811
    store = open_store(store_url)
    stored = _record(store, engine)[3]
    item = {
        "card": stored.id,
        "outcome": "overridden",
        "outcomeTimestamp": "2026-03-01T10:00:00Z",
        "overrideReason": {"reason": {"code": "x", "system": "s", "display": "no"}},
    }
    assert store.add_feedback(stored.id, item) is True
    assert store.add_feedback(stored.id, dict(item)) is False  # same card, outcome and timestamp
    later = item | {"outcomeTimestamp": "2026-03-02T10:00:00Z"}
    assert store.add_feedback(stored.id, later) is True
    assert (
        store.add_feedback(
            "unknown-card",
            {
                "card": "unknown-card",
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "s1"}],
                "outcomeTimestamp": "2026-03-01T10:00:00Z",
            },
        )
        is True
    )

    got = store.get(stored.id)
    assert got is not None and got.feedback == [item, later]
    assert store.feedback_for_card("unknown-card")[0]["acceptedSuggestions"] == [{"id": "s1"}]
    assert store.verify().intact
    store.close()


def test_opening_runs_the_migrations_once(store_url: str) -> None:  # noqa: F811
    store = open_store(store_url)
    assert current_revision(store.engine) == head_revision()
    store.close()
    store = open_store(store_url)  # second open: already at head, nothing to do
    with store.engine.connect() as conn:
        versions = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    assert versions == [head_revision()]
    store.close()


def test_an_existing_log_is_required_when_asked(tmp_path: Path) -> None:
    missing = sqlite_url(tmp_path / "nowhere")
    with pytest.raises(StoreError, match="no decision log"):
        open_store(missing, create=False)
    assert not (tmp_path / "nowhere").exists()
    empty = tmp_path / "empty.db"
    sa.create_engine(f"sqlite:///{empty}").connect().close()  # a database, but no log in it
    with pytest.raises(StoreError, match="no decision log"):
        open_store(f"sqlite:///{empty}", create=False)


def test_sqlite_is_created_on_first_start_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "data" / "sub")
    store = open_store(url)
    assert (tmp_path / "data" / "sub" / "decisions.db").is_file()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.close()


def test_in_memory_sqlite_works_for_quick_use(engine: Engine) -> None:
    store = open_store("sqlite://")
    stored = _record(store, engine)[3]
    assert store.get(stored.id) is not None and store.verify().intact
    store.close()


def test_unsupported_database_urls_are_refused() -> None:
    with pytest.raises(StoreError, match="unsupported"):
        open_store("mysql://somewhere/db")


def test_stored_json_is_what_the_caller_sent(store_url: str, engine: Engine) -> None:  # noqa: F811
    """Floats, unicode and nulls come back unchanged (the hash covers the stored text)."""
    store = open_store(store_url)
    facts = {"source": "Patient/ü", "weight": 72.5, "none": None, "tiny": 1e-7}
    assessment = {"decision": "candidate", "evaluation_date": "2026-03-01", "ruleset_version": "v"}
    stored = store.record(
        assessment_id="a-1",
        facts=facts,
        assessment=assessment,
        raw_input="é".encode(),
        caller=Caller(channel="api"),
        ruleset_hash="h",
    )
    got = store.get("a-1")
    assert got is not None and got.facts == facts and got.assessment == assessment
    assert json.dumps(got.facts) == json.dumps(facts)  # key order kept
    assert stored.input_digest == hashlib.sha256("é".encode()).hexdigest()
    store.close()
