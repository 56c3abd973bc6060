"""Concurrent writers keep the hash chain intact: threads (SQLite, PostgreSQL) and processes (SQLite)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from ldncds.store import Caller, SqlStore, open_store
from support.store import sqlite_url, store_url  # noqa: F401

WRITER = textwrap.dedent(
    """
    import sys, uuid
    from ldncds.store import Caller, open_store
    store = open_store(sys.argv[1])  # every process opens (and migrates) a brand-new file at once
    for i in range(int(sys.argv[2])):
        store.record(assessment_id=str(uuid.uuid4()), facts={"n": i},
                     assessment={"decision": "candidate", "evaluation_date": "2026-03-01",
                                 "ruleset_version": "t"},
                     raw_input=b"x", caller=Caller(channel="cli"), ruleset_hash="h")
    """
)


def _append(store: SqlStore, n: int) -> list[str]:
    ids = []
    for i in range(n):
        stored = store.record(
            assessment_id=str(uuid.uuid4()),
            facts={"i": i},
            assessment={"decision": "candidate", "evaluation_date": "2026-03-01", "ruleset_version": "t"},
            raw_input=str(i).encode(),
            caller=Caller(channel="api"),
            ruleset_hash="h",
        )
        ids.append(stored.id)
        if i % 5 == 0:
            item = {"card": stored.id, "outcome": "accepted", "outcomeTimestamp": str(i)}
            store.add_feedback(stored.id, item)
    return ids


def _seqs(store: SqlStore) -> list[int]:
    with store.engine.connect() as conn:
        return conn.execute(sa.text("SELECT seq FROM assessments ORDER BY seq")).scalars().all()


def test_threads_appending_at_once_keep_the_chain_intact(store_url: str) -> None:  # noqa: F811
    store = open_store(store_url)
    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(pool.map(lambda _: _append(store, 15), range(8)))
    ids = [i for batch in batches for i in batch]
    assert len(set(ids)) == 120
    assert _seqs(store) == list(range(1, 121))  # no gap, no duplicate
    report = store.verify()
    assert report.intact, [str(p) for c in report.chains for p in c.problems]
    assert report.records == 120
    assert {c.chain: c.records for c in report.chains}["feedback"] == 8 * 3
    assert all(store.get(i) is not None for i in ids)
    store.close()


@pytest.mark.slow
def test_processes_appending_at_once_keep_the_chain_intact(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, "25"]) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    store = open_store(url)
    assert _seqs(store) == list(range(1, 101))
    report = store.verify()
    assert report.intact, [str(p) for c in report.chains for p in c.problems]
    store.close()


def test_a_new_log_opened_by_many_threads_at_once_is_migrated_once(store_url: str) -> None:  # noqa: F811
    def open_and_record(_: int) -> str:
        store = open_store(store_url)
        try:
            return _append(store, 1)[0]
        finally:
            store.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = list(pool.map(open_and_record, range(6)))
    store = open_store(store_url)
    assert _seqs(store) == list(range(1, 7))
    assert all(store.get(i) is not None for i in ids)
    assert store.verify().intact
    store.close()
