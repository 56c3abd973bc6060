"""Group commit (setting store_group_commit_max): concurrent writers share one transaction.

Each writer returns only after the COMMIT of its own group; a failed group fails every writer in it
and stores none of its rows; a writer's own refusal (a duplicate) does not fail the others; the
hash chains stay intact under concurrency (SQLite and PostgreSQL).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ldncds.settings import Settings
from ldncds.store import Caller, DuplicateAssessmentError, SqlStore, StoreError, open_store, prepare_record
from ldncds.store import sql as store_sql
from ldncds.store.group import GroupCommitError, GroupCommitter, Refused
from support.store import sqlite_url, store_url  # noqa: F401

ASSESSMENT = {"decision": "candidate", "evaluation_date": "2026-03-01", "ruleset_version": "t"}


def _record(store: SqlStore, i: int, record_id: str | None = None) -> Any:
    prepared = prepare_record(
        {"i": i},
        ASSESSMENT,
        str(i).encode(),
        Caller(channel="api"),
        "h",
        assessment_id=record_id or str(uuid.uuid4()),
    )
    return store.record(prepared=prepared)


def _alone(tmp_path: Path) -> SqlStore:
    """The same log without group commit (a leader alone would wait its full max wait)."""
    return open_store(sqlite_url(tmp_path), group_commit_max=1, group_commit_wait_ms=0)


def _committed_ids(db: Path) -> set[str]:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM assessments")}


# ---------------------------------------------------------------- the committer itself


def test_concurrent_submissions_are_written_in_groups_and_each_gets_its_own_result() -> None:
    groups: list[list[int]] = []

    def write(works: Sequence[Any]) -> list[Any]:
        time.sleep(0.01)  # a COMMIT takes time: later arrivals queue for the next group
        groups.append(list(works))
        return [w * 10 for w in works]

    committer = GroupCommitter(write, max_size=4, max_wait_s=0.0)
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(committer.submit, range(40)))
    assert results == [i * 10 for i in range(40)]
    assert sorted(w for g in groups for w in g) == list(range(40))
    assert max(len(g) for g in groups) <= 4 and len(groups) < 40  # grouped, never above the maximum
    assert committer.groups == len(groups)


def test_a_leader_waits_at_most_max_wait_for_its_group_to_fill() -> None:
    sizes: list[int] = []

    def write(works: Sequence[Any]) -> list[Any]:
        sizes.append(len(works))
        return list(works)

    committer = GroupCommitter(write, max_size=8, max_wait_s=0.05)
    start = time.monotonic()
    assert committer.submit("alone") == "alone"
    assert 0.04 <= time.monotonic() - start < 2 and sizes == [1]
    with ThreadPoolExecutor(8) as pool:  # eight at once fill the group before the wait ends
        assert sorted(pool.map(committer.submit, range(8))) == list(range(8))
    assert sizes[1:] == [8]


def test_a_failed_group_fails_every_member_and_a_refusal_only_its_own() -> None:
    calls = 0

    def write(works: Sequence[Any]) -> list[Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise sa.exc.OperationalError("COMMIT", None, Exception("disk I/O error"))
        return [Refused(DuplicateAssessmentError("dup")) if w == "dup" else w for w in works]

    committer = GroupCommitter(write, max_size=4, max_wait_s=1.0)
    with ThreadPoolExecutor(4) as pool:
        failed = [pool.submit(committer.submit, i) for i in range(4)]
    for future in failed:
        with pytest.raises(GroupCommitError) as caught:
            future.result()
        assert isinstance(caught.value, StoreError) and isinstance(
            caught.value.__cause__, sa.exc.OperationalError
        )
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(committer.submit, w) for w in ("a", "dup", "b")]
    assert futures[0].result() == "a" and futures[2].result() == "b"
    with pytest.raises(DuplicateAssessmentError):
        futures[1].result()


def test_group_commit_needs_a_group_of_two_or_more() -> None:
    with pytest.raises(ValueError):
        GroupCommitter(lambda works: list(works), max_size=1, max_wait_s=0)


# ---------------------------------------------------------------- the store with group commit on


def test_the_settings_turn_group_commit_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().store_group_commit_max == 1  # off by default
    off = open_store(sqlite_url(tmp_path / "off"))
    assert off.group is None
    off.close()
    monkeypatch.setenv("LDNCDS_STORE_GROUP_COMMIT_MAX", "8")
    monkeypatch.setenv("LDNCDS_STORE_GROUP_COMMIT_WAIT_MS", "2.5")
    store = open_store(sqlite_url(tmp_path / "on"))
    assert store.group is not None and store.group._max_size == 8 and store.group._max_wait_s == 0.0025
    store.close()


def test_concurrent_assessments_and_feedback_share_commits_and_keep_both_chains_intact(
    store_url: str,  # noqa: F811
) -> None:
    store = open_store(store_url, group_commit_max=8, group_commit_wait_ms=1)
    db = Path(sa.make_url(store_url).database or "") if store.dialect == "sqlite" else None
    seen_uncommitted: list[str] = []

    def writer(n: int) -> list[str]:
        ids = []
        for i in range(12):
            stored = _record(store, n * 100 + i)
            if db is not None and stored.id not in _committed_ids(db):
                seen_uncommitted.append(stored.id)  # returned before its COMMIT: must never happen
            ids.append(stored.id)
            if i % 3 == 0:
                item = {"card": stored.id, "outcome": "accepted", "outcomeTimestamp": str(i)}
                assert store.add_feedback(stored.id, item) is True
        return ids

    with ThreadPoolExecutor(8) as pool:
        ids = [i for batch in pool.map(writer, range(8)) for i in batch]
    assert seen_uncommitted == []
    assert len(set(ids)) == 96 and store.count() == 96
    assert store.group is not None and store.group.groups < 96 + 32  # writes did share transactions
    with store.engine.connect() as conn:
        seqs = conn.execute(sa.text("SELECT seq FROM assessments ORDER BY seq")).scalars().all()
        feedback_seqs = conn.execute(sa.text("SELECT seq FROM feedback ORDER BY seq")).scalars().all()
    assert seqs == list(range(1, 97)) and feedback_seqs == list(range(1, 33))
    report = store.verify()
    assert report.intact, [str(p) for c in report.chains for p in c.problems]
    assert all(store.get(i) is not None for i in ids)
    store.close()


def _failing_commits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every COMMIT of the write path fails as a disk error would (through the real error handling)."""
    failures: list[int] = []
    original: Callable[..., Any] = store_sql._Tx._driver

    def fail() -> Any:
        failures.append(1)
        raise sqlite3.OperationalError("disk I/O error")

    def driver(self: Any, statement: str, call: Callable[[], Any]) -> Any:
        return original(self, statement, fail if statement == "COMMIT" else call)

    monkeypatch.setattr(store_sql._Tx, "_driver", driver)
    return failures


def test_when_a_group_cannot_commit_every_writer_in_it_fails_and_nothing_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _record(_alone(tmp_path), 0)
    store = open_store(sqlite_url(tmp_path), group_commit_max=6, group_commit_wait_ms=5000)
    failures = _failing_commits(monkeypatch)
    barrier = threading.Barrier(6)

    def write(i: int) -> Exception | None:
        barrier.wait()
        try:
            if i % 2:
                store.add_feedback(
                    first.id, {"card": first.id, "outcome": "accepted", "outcomeTimestamp": str(i)}
                )
            else:
                _record(store, i)
        except Exception as exc:  # collected and checked below
            return exc
        return None

    with ThreadPoolExecutor(6) as pool:
        errors = list(pool.map(write, range(6)))
    assert all(isinstance(e, GroupCommitError) for e in errors), errors
    assert len(failures) == 2  # one group: its transaction and the one retry
    assert store.count() == 1 and store.feedback_for_card(first.id) == []
    monkeypatch.undo()
    assert _record(store, 9).seq == 2  # the chain goes on where it was: nothing half-written
    report = store.verify()
    assert report.intact and report.records == 2
    store.close()


def test_a_duplicate_in_a_group_fails_only_its_own_writer(tmp_path: Path) -> None:
    _record(_alone(tmp_path), 0, record_id="taken")
    store = open_store(sqlite_url(tmp_path), group_commit_max=4, group_commit_wait_ms=5000)
    barrier = threading.Barrier(4)

    def write(i: int) -> Any:
        barrier.wait()
        try:
            return _record(store, i, record_id="taken" if i == 2 else None).seq
        except DuplicateAssessmentError as exc:
            return exc

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(write, [1, 2, 3, 4]))
    assert isinstance(results[1], DuplicateAssessmentError)  # same id, other content
    assert sorted(r for r in results if isinstance(r, int)) == [2, 3, 4]
    assert store.group is not None and store.group.groups == 1  # the four wrote as one group
    assert store.verify().intact and store.count() == 4
    store.close()
