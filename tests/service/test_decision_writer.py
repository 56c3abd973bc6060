"""The decision writer (service/recorder.py): requests on the event loop await their record's COMMIT.

Every awaited append is stored, in a chain that verifies; with a group size above one, records that
queued together share a transaction; a failed transaction fails exactly its requests and the writer
goes on; a duplicate id of other content fails only its own request; close() writes what queued.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ldncds.service.recorder import DecisionWriter
from ldncds.store import Caller, DuplicateAssessmentError, SqlStore, open_store, prepare_record
from support.store import sqlite_url

ASSESSMENT = {"decision": "candidate", "evaluation_date": "2026-03-01", "ruleset_version": "t"}


def prepared(i: int, record_id: str | None = None) -> Any:
    return prepare_record(
        {"i": i},
        ASSESSMENT,
        str(i).encode(),
        Caller(channel="api"),
        "h",
        assessment_id=record_id or str(uuid.uuid4()),
    )


class SlowStore:
    """A real store whose COMMITs take a while (so requests queue) and which counts its groups."""

    def __init__(self, store: SqlStore, fail_groups: int = 0) -> None:
        self.store, self.groups, self.fail_groups = store, [], fail_groups
        self.threads: set[str] = set()

    def append(self, record: Any) -> int:
        return self.append_all([record])[0]  # type: ignore[return-value]

    def append_all(self, records: Sequence[Any]) -> list[int | Exception]:
        self.threads.add(threading.current_thread().name)
        time.sleep(0.005)
        self.groups.append(len(records))
        if self.fail_groups:
            self.fail_groups -= 1
            raise OSError("disk full")
        return self.store.append_all(records)


def _ids(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM assessments")}


async def _append_many(writer: DecisionWriter, records: list[Any]) -> list[Any]:
    return await asyncio.gather(*(writer.append(r) for r in records), return_exceptions=True)


@pytest.mark.parametrize("group_size", [1, 8])
def test_every_awaited_append_is_stored_in_an_intact_chain(tmp_path: Path, group_size: int) -> None:
    store = open_store(sqlite_url(tmp_path))
    slow = SlowStore(store)
    writer = DecisionWriter(slow, group_size)
    records = [prepared(i) for i in range(40)]
    seqs = asyncio.run(_append_many(writer, records))
    writer.close()
    assert sorted(seqs) == list(range(1, 41))
    assert _ids(tmp_path / "decisions.db") == {r.id for r in records}
    assert store.verify().intact
    assert slow.threads == {"ldncds-decision-writer"}  # one thread, never the event loop's
    if group_size == 1:
        assert set(slow.groups) == {1}
    else:
        assert max(slow.groups) > 1 and max(slow.groups) <= group_size  # queued records shared COMMITs
        assert sum(slow.groups) == 40


def test_a_failed_transaction_fails_its_requests_only_and_the_writer_goes_on(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))
    slow = SlowStore(store, fail_groups=1)
    writer = DecisionWriter(slow, 4)

    async def scenario() -> tuple[list[Any], int]:
        first = await _append_many(writer, [prepared(i) for i in range(10)])
        later = await writer.append(prepared(99))
        return first, later

    first, later = asyncio.run(scenario())
    writer.close()
    failed = [r for r in first if isinstance(r, OSError)]
    assert len(failed) == slow.groups[0]  # exactly the first group's requests
    stored = [r for r in first if isinstance(r, int)]
    assert len(stored) == 10 - len(failed)
    assert later == len(stored) + 1
    assert len(_ids(tmp_path / "decisions.db")) == len(stored) + 1 and store.verify().intact


def test_a_duplicate_id_of_other_content_fails_only_its_own_request(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))
    taken = str(uuid.uuid4())
    store.append(prepared(1, taken))
    writer = DecisionWriter(SlowStore(store), 8)
    results = asyncio.run(_append_many(writer, [prepared(2), prepared(3, taken), prepared(4)]))
    writer.close()
    assert isinstance(results[1], DuplicateAssessmentError)
    assert sorted(r for r in results if isinstance(r, int)) == [2, 3]
    assert store.verify().intact


def test_close_writes_what_was_queued(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))
    writer = DecisionWriter(SlowStore(store), 1)
    records = [prepared(i) for i in range(5)]

    async def queue_then_close() -> None:
        tasks = [asyncio.ensure_future(writer.append(r)) for r in records]
        await asyncio.sleep(0)  # all queued; the writer is busy with the first
        await asyncio.to_thread(writer.close)
        await asyncio.gather(*tasks)

    asyncio.run(queue_then_close())
    assert _ids(tmp_path / "decisions.db") == {r.id for r in records}
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(writer.append(prepared(9)))


def test_a_cancelled_request_does_not_stop_its_record_or_the_others(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))
    writer = DecisionWriter(SlowStore(store), 1)
    records = [prepared(i) for i in range(4)]

    async def cancel_one() -> list[Any]:
        tasks = [asyncio.ensure_future(writer.append(r)) for r in records]
        await asyncio.sleep(0)
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(cancel_one())
    writer.close()
    assert isinstance(results[1], asyncio.CancelledError)
    assert _ids(tmp_path / "decisions.db") == {r.id for r in records}  # the record was queued: it is stored
