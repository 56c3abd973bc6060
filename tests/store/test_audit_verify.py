"""Tamper evidence: `ldncds audit verify` names the first edited, deleted or reordered record."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.store import Caller, SqlStore, open_store
from ldncds.store.chain import chain_hash
from ldncds.store.sql import assessment_content
from support.store import store_url  # noqa: F401

runner = CliRunner()
N = 6


@pytest.fixture
def log(store_url: str) -> Iterator[tuple[SqlStore, list[str]]]:  # noqa: F811
    store = open_store(store_url)
    ids = []
    for i in range(N):
        stored = store.record(
            assessment_id=str(uuid.uuid4()),
            facts={"source": "Patient/p", "birth_date": f"19{50 + i}-01-01"},
            assessment={
                "decision": "contraindicated",
                "evaluation_date": "2026-03-01",
                "ruleset_version": "t",
            },
            raw_input=f"input {i}".encode(),
            caller=Caller(channel="api"),
            ruleset_hash="h",
        )
        ids.append(stored.id)
    store.add_feedback(ids[0], {"card": ids[0], "outcome": "accepted", "outcomeTimestamp": "t1"})
    store.add_feedback(ids[1], {"card": ids[1], "outcome": "overridden", "outcomeTimestamp": "t2"})
    yield store, ids
    store.close()


def _sql(store: SqlStore, statement: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def _verify_cli(store: SqlStore) -> tuple[int, str]:
    url = store.engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["audit", "verify", "--database-url", url])
    return result.exit_code, result.output


def _first(store: SqlStore):  # noqa: ANN202
    report = store.verify()
    assert not report.intact
    return next(c.problems[0] for c in report.chains if c.problems)


def test_an_intact_log_passes(log: tuple[SqlStore, list[str]]) -> None:
    store, _ = log
    code, out = _verify_cli(store)
    assert code == 0, out
    assert f"intact: {N} records" in out


def test_an_edited_decision_is_named(log: tuple[SqlStore, list[str]]) -> None:
    store, ids = log
    _sql(store, "UPDATE assessments SET decision = 'candidate' WHERE seq = 3")
    problem = _first(store)
    assert (problem.kind, problem.seq, problem.record_id) == ("edited", 3, ids[2])
    code, out = _verify_cli(store)
    assert code == 1
    assert "edited: seq 3" in out and ids[2] in out


def test_edited_patient_facts_are_named(log: tuple[SqlStore, list[str]]) -> None:
    store, ids = log
    _sql(store, "UPDATE assessments SET facts = replace(facts, '1954', '1994') WHERE seq = 5")
    problem = _first(store)
    assert (problem.kind, problem.seq, problem.record_id) == ("edited", 5, ids[4])


def test_an_edit_with_a_recomputed_hash_is_still_named(log: tuple[SqlStore, list[str]]) -> None:
    """Whoever rewrites a record and its own hash still breaks the next record's link."""
    store, ids = log
    with store.engine.begin() as conn:
        row = dict(conn.execute(sa.text("SELECT * FROM assessments WHERE seq = 2")).mappings().one())
        row["decision"] = "candidate"
        if isinstance(row["created_at"], str):  # SQLite via raw SQL: the stored text
            from datetime import datetime

            row["created_at"] = datetime.fromisoformat(row["created_at"])
        if isinstance(row["evaluation_date"], str):
            from datetime import date

            row["evaluation_date"] = date.fromisoformat(row["evaluation_date"])
        forged = chain_hash(assessment_content(row, 2), row["prev_hash"])
        conn.execute(
            sa.text("UPDATE assessments SET decision = 'candidate', hash = :h WHERE seq = 2"), {"h": forged}
        )
    problem = _first(store)
    assert (problem.kind, problem.seq, problem.record_id) == ("edited", 2, ids[1])


def test_a_deleted_record_is_named(log: tuple[SqlStore, list[str]]) -> None:
    store, ids = log
    _sql(store, "DELETE FROM assessments WHERE seq = 4")
    problem = _first(store)
    assert (problem.kind, problem.seq) == ("deleted", 4)
    assert ids[4] in problem.detail  # the record after the gap
    code, out = _verify_cli(store)
    assert code == 1 and "deleted: seq 4" in out


def test_deleting_the_newest_record_is_named(log: tuple[SqlStore, list[str]]) -> None:
    store, _ = log
    _sql(store, "DELETE FROM assessments WHERE seq = :s", s=N)
    problem = _first(store)
    assert (problem.kind, problem.seq) == ("deleted", N)


def test_deleting_the_first_record_is_named(log: tuple[SqlStore, list[str]]) -> None:
    store, _ = log
    _sql(store, "DELETE FROM assessments WHERE seq = 1")
    problem = _first(store)
    assert (problem.kind, problem.seq) == ("deleted", 1)


def test_a_swapped_pair_is_named_as_reordered(log: tuple[SqlStore, list[str]]) -> None:
    store, ids = log
    with store.engine.begin() as conn:  # swap seq 3 and 4 (UNIQUE(seq) needs a parking place)
        conn.execute(sa.text("UPDATE assessments SET seq = -1 WHERE seq = 3"))
        conn.execute(sa.text("UPDATE assessments SET seq = 3 WHERE seq = 4"))
        conn.execute(sa.text("UPDATE assessments SET seq = 4 WHERE seq = -1"))
    problem = _first(store)
    assert (problem.kind, problem.seq, problem.record_id) == ("reordered", 3, ids[3])
    assert "written as seq 4" in problem.detail
    code, out = _verify_cli(store)
    assert code == 1 and "reordered: seq 3" in out


def test_a_record_moved_to_the_end_is_named_as_reordered(log: tuple[SqlStore, list[str]]) -> None:
    store, ids = log
    _sql(store, "UPDATE assessments SET seq = 99 WHERE seq = 2")
    problem = _first(store)
    assert (problem.kind, problem.seq, problem.record_id) == ("reordered", 2, ids[1])


def test_edited_feedback_is_named_in_its_own_chain(log: tuple[SqlStore, list[str]]) -> None:
    store, _ = log
    _sql(store, "UPDATE feedback SET item = replace(item, 'overridden', 'accepted') WHERE seq = 2")
    report = store.verify()
    chains = {c.chain: c for c in report.chains}
    assert chains["assessments"].intact
    assert [(p.kind, p.seq) for p in chains["feedback"].problems] == [("edited", 2)]


def test_verify_without_a_log_says_so(tmp_path) -> None:  # noqa: ANN001
    result = runner.invoke(app, ["audit", "verify", "--database-url", f"sqlite:///{tmp_path / 'none.db'}"])
    assert result.exit_code == 2
    assert "no decision log" in result.output
    assert not (tmp_path / "none.db").exists()
