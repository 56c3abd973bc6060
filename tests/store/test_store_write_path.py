"""The write path (issue 15): no read-back, no SQL compiled per write, prepared records from any
process, the inputs a worker may hand over, and SQLite kept at synchronous=FULL with WAL."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ldncds.engine import Engine, PatientFacts
from ldncds.store import (
    Caller,
    DuplicateAssessmentError,
    SqlStore,
    assessment_text,
    open_store,
    prepare_record,
    record_assessment,
    seal,
)
from ldncds.store.record import compact_json
from support.store import sqlite_url, store_url  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "candidate.json"
ON = date(2026, 3, 1)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture
def facts() -> PatientFacts:
    return PatientFacts.model_validate_json(EXAMPLE.read_bytes())


def _open(url: str, **group: Any) -> SqlStore:
    return open_store(
        url, group_commit_max=group.get("size", 1), group_commit_wait_ms=group.get("wait_ms", 0)
    )


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = _open(sqlite_url(tmp_path))
    yield store
    store.close()


def _traced(store: SqlStore) -> list[str]:
    """Every SQL statement SQLite runs on the store's connections from now on (DB-API level)."""
    statements: list[str] = []

    @sa.event.listens_for(store.engine, "checkout")
    def _trace(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        dbapi_conn.set_trace_callback(statements.append)

    return statements


def _kinds(statements: list[str]) -> list[str]:
    return [" ".join(s.split()[:3]) for s in statements if not s.startswith("PRAGMA")]


def test_an_assessment_is_written_with_one_head_read_and_nothing_read_back(
    sqlite_store: SqlStore, engine: Engine, facts: PatientFacts
) -> None:
    record_assessment(sqlite_store, facts, engine.assess(facts, ON), b"{}", Caller(channel="api"), "h")
    statements = _traced(sqlite_store)
    stored = record_assessment(
        sqlite_store, facts, engine.assess(facts, ON), b"{}", Caller(channel="api"), "h"
    )
    assert _kinds(statements) == [
        "BEGIN IMMEDIATE",
        "SELECT chain_head.seq, chain_head.hash",
        "INSERT INTO assessments",
        "UPDATE chain_head SET",
        "COMMIT",
    ]
    assert [s for s in statements if s.startswith("SELECT") and "FROM assessments" in s] == []
    assert stored.seq == 2


def test_feedback_is_written_without_a_lookup_of_the_same_feedback(sqlite_store: SqlStore) -> None:
    statements = _traced(sqlite_store)
    assert sqlite_store.add_feedback(
        "card-1", {"card": "card-1", "outcome": "accepted", "outcomeTimestamp": "t"}
    )
    assert _kinds(statements) == [
        "BEGIN IMMEDIATE",
        "SELECT chain_head.seq, chain_head.hash",
        "INSERT INTO feedback",
        "UPDATE chain_head SET",
        "COMMIT",
    ]
    statements.clear()
    item = {"card": "card-1", "outcome": "accepted", "outcomeTimestamp": "t"}
    assert sqlite_store.add_feedback("card-1", item) is False  # the unique key answers the retry
    assert "UPDATE chain_head SET" not in _kinds(statements)
    assert sqlite_store.verify().intact


def test_no_sql_is_compiled_while_writing(
    sqlite_store: SqlStore, engine: Engine, facts: PatientFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_assessment(sqlite_store, facts, engine.assess(facts, ON), b"{}", Caller(channel="api"), "h")
    compiled: list[str] = []
    original = sa.sql.compiler.SQLCompiler.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        compiled.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(sa.sql.compiler.SQLCompiler, "__init__", counting)
    for _ in range(5):
        record_assessment(sqlite_store, facts, engine.assess(facts, ON), b"{}", Caller(channel="api"), "h")
        sqlite_store.add_feedback(str(uuid.uuid4()), {"outcome": "accepted", "outcomeTimestamp": "t"})
    assert compiled == []
    monkeypatch.undo()
    assert sqlite_store.verify().intact and sqlite_store.count() == 6


def test_what_record_returns_is_what_the_log_reads_back(
    store_url: str,  # noqa: F811
    engine: Engine,
    facts: PatientFacts,
) -> None:
    store = _open(store_url)
    caller = Caller(channel="cds-hooks", service_id="s", hook_instance="h", issuer="https://ehr", tenant="t")
    returned = record_assessment(store, facts, engine.assess(facts, ON), EXAMPLE.read_bytes(), caller, "h")
    edge = store.record(
        assessment_id="edge",
        facts={"big": 10**30, "tiny": 1e-7, "tuple": (1, 2), "text": "ü\u2028\x01"},
        assessment={"decision": "candidate", "evaluation_date": "2026-03-01", "ruleset_version": "v"},
        raw_input=b"x",
        caller=Caller(channel="api"),
        ruleset_hash="h",
    )
    for written in (returned, edge):
        read = store.get(written.id)
        assert read is not None and written == read
        assert json.dumps(written.facts) == json.dumps(read.facts)
    assert edge.facts["tuple"] == [1, 2]  # what the log holds, not the caller's tuple
    store.close()


def test_a_worker_may_hand_over_json_text_or_dicts_instead_of_the_models(
    sqlite_store: SqlStore, engine: Engine, facts: PatientFacts
) -> None:
    assessment = engine.assess(facts, ON)
    assessment.assessment_id = "from-worker"
    caller, raw = Caller(channel="api"), EXAMPLE.read_bytes()
    from_models = prepare_record(facts, assessment, raw, caller, "h")
    facts_text = compact_json(facts.model_dump(mode="json"))
    assessment_text = compact_json(assessment.model_dump(mode="json"))
    variants = [
        prepare_record(facts_text, assessment_text, raw, caller, "h"),
        prepare_record(facts_text.encode(), assessment_text.encode(), raw, caller, "h"),
        prepare_record(facts.model_dump(mode="json"), assessment.model_dump(mode="json"), raw, caller, "h"),
    ]
    assert all(v == from_models for v in variants)
    stored = sqlite_store.record(prepared=variants[0])
    assert stored.assessment == assessment.model_dump(mode="json")
    assert sqlite_store.record(prepared=variants[1]).seq == stored.seq  # the same record, once


def test_text_sealed_where_the_store_is_is_the_same_record_and_is_never_parsed_there(
    sqlite_store: SqlStore, engine: Engine, facts: PatientFacts
) -> None:
    """The services' path: the worker serialises (assessment_text), the server seals and appends."""
    assessment = engine.assess(facts, ON)
    assessment.assessment_id = "sealed"
    caller, raw = Caller(channel="cds-hooks", issuer="https://ehr", tenant="t"), EXAMPLE.read_bytes()
    text = pickle.loads(pickle.dumps(assessment_text(facts, assessment)))  # as a worker hands it over
    sealed = seal(text, raw, caller, "h")
    assert sealed == prepare_record(facts, assessment, raw, caller, "h")  # same bytes, digest, hash parts
    seq = sqlite_store.append(sealed)
    assert sealed.facts_value is None and sealed.assessment_value is None  # nothing was parsed to store it
    stored = sqlite_store.get("sealed")
    assert stored is not None and stored.seq == seq
    assert stored.assessment == assessment.model_dump(mode="json") and stored.caller == caller
    assert sqlite_store.append(seal(text, raw, caller, "h")) == seq  # a retry is the same record, once
    with pytest.raises(DuplicateAssessmentError):
        sqlite_store.append(seal(text, b"other input", caller, "h"))
    assert sqlite_store.verify().intact
    assert sealed.assessment == assessment.model_dump(mode="json")  # read on demand, when asked


def test_an_assessment_model_without_an_id_gets_one_and_dicts_must_carry_one(
    engine: Engine, facts: PatientFacts
) -> None:
    assessment = engine.assess(facts, ON)
    assert assessment.assessment_id is None
    prepared = prepare_record(facts, assessment, b"", Caller(channel="cli"), "h")
    assert assessment.assessment_id == prepared.id and len(prepared.id) == 36
    assert json.loads(prepared.assessment_json)["assessment_id"] == prepared.id

    dumped = engine.assess(facts, ON).model_dump(mode="json")
    with pytest.raises(ValueError, match="assessment_id: required"):
        prepare_record(facts, dumped, b"", Caller(channel="cli"), "h")
    with pytest.raises(ValueError, match="differs"):
        prepare_record(
            facts, dumped | {"assessment_id": "a"}, b"", Caller(channel="cli"), "h", assessment_id="b"
        )
    with pytest.raises(ValueError, match="assessment: expected a JSON object"):
        prepare_record(facts, "[1, 2]", b"", Caller(channel="cli"), "h", assessment_id="a")
    with pytest.raises(ValueError, match="facts: not valid JSON text"):
        prepare_record("{not json", dumped, b"", Caller(channel="cli"), "h", assessment_id="a")
    with pytest.raises(ValueError, match="evaluation_date"):
        prepare_record(
            {},
            {"decision": "candidate", "ruleset_version": "1"},
            b"",
            Caller(channel="cli"),
            "h",
            assessment_id="a",
        )


WORKER = textwrap.dedent(
    """
    import pickle, sys
    from ldncds.store.record import prepare_record
    from ldncds.store.interface import Caller
    assert "sqlalchemy" not in sys.modules, "prepare_record imported SQLAlchemy"
    assessment = {"decision": "candidate", "evaluation_date": "2026-03-01", "ruleset_version": "v",
                  "assessment_id": "from-a-worker"}
    prepared = prepare_record('{"source":"Patient/p"}', assessment, b"raw", Caller(channel="api"), "h")
    assert "sqlalchemy" not in sys.modules
    sys.stdout.buffer.write(pickle.dumps(prepared))
    """
)


def test_a_record_prepared_in_another_process_without_sqlalchemy_is_appended_here(
    sqlite_store: SqlStore,
) -> None:
    done = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, check=True, timeout=120)
    prepared = pickle.loads(done.stdout)
    stored = sqlite_store.record(prepared=prepared)
    assert stored.id == "from-a-worker" and stored.facts == {"source": "Patient/p"}
    assert sqlite_store.verify().intact


@pytest.mark.parametrize("group_size", [1, 8])
def test_every_sqlite_connection_is_wal_with_synchronous_full(tmp_path: Path, group_size: int) -> None:
    """Never synchronous=NORMAL: an acknowledged write must survive a power cut, also with group commit."""
    store = _open(sqlite_url(tmp_path), size=group_size)
    assessment = {"decision": "c", "evaluation_date": "2026-03-01", "ruleset_version": "v"}
    prepared = [
        prepare_record({}, assessment, b"", Caller(channel="api"), "h", assessment_id=str(i))
        for i in range(16)
    ]
    with ThreadPoolExecutor(8) as pool:  # several writers: several pooled connections
        list(pool.map(lambda p: store.record(prepared=p), prepared))
    held = [store.engine.raw_connection() for _ in range(6)]
    try:
        for raw in held:
            cursor = raw.cursor()
            assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            cursor.close()
    finally:
        for raw in held:
            raw.close()
    assert store.verify().intact and store.count() == 16
    store.close()
    # The decision log's code never lowers it (screening's throw-away index file may).
    source = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "src/ldncds/store").rglob("*.py"))
    assert "synchronous=normal" not in source.replace(" ", "").lower()
    assert "synchronous=off" not in source.replace(" ", "").lower()
