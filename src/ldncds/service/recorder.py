"""The decision log's writer for the event loop: one thread appends, requests await.

With engine workers, a request's work is awaited on the event loop; its assessment must then be
durably stored before the answer goes out. A handler awaits `DecisionWriter.append`; one writer
thread takes whatever has queued (up to `group_size` records), appends it and settles the
requests' futures on their loops. A busy loop only queues: the thread is woken only when idle,
instead of one thread hand-off per request. With `group_size` above 1 the records taken together
share one transaction and its COMMIT (group commit); each request still resumes only after the
COMMIT of its own record, and a failed transaction fails every request in it. Never a weaker
durability setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from typing import Any

from ldncds.store.record import PreparedRecord

__all__ = ["DecisionWriter"]

_Pending = tuple[PreparedRecord, "asyncio.Future[int]"]


class DecisionWriter:
    """Appends PreparedRecords for awaiting requests, in order of arrival, on one thread."""

    def __init__(self, store: Any, group_size: int = 1) -> None:
        self.store, self.group_size = store, max(1, group_size)
        self._cv = threading.Condition()
        self._pending: deque[_Pending] = deque()
        self._thread: threading.Thread | None = None
        self._idle = False
        self._closed = False

    async def append(self, prepared: PreparedRecord) -> int:
        """Durably append `prepared` (its seq); raises what the store raised."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        with self._cv:
            if self._closed:
                raise RuntimeError("the decision writer is closed")
            self._pending.append((prepared, done))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ldncds-decision-writer", daemon=True)
                self._thread.start()
            elif self._idle:
                self._cv.notify()
        return await done

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._cv:
            self._closed = True
            self._cv.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._closed:
                    self._idle = True
                    self._cv.wait()
                self._idle = False
                if not self._pending:
                    return
                count = min(self.group_size, len(self._pending))
                batch = [self._pending.popleft() for _ in range(count)]
            _settle(batch, self._write(batch))

    def _write(self, batch: list[_Pending]) -> list[int | BaseException]:
        try:
            if self.group_size == 1:  # the store's own append (its group committer, if any)
                return [self.store.append(batch[0][0])]
            outcomes: list[int | BaseException] = self.store.append_all([p for p, _ in batch])
            return outcomes
        except BaseException as exc:  # noqa: BLE001 - the thread lives on; the requests get the error
            return [exc] * len(batch)


def _settle(batch: list[_Pending], outcomes: list[int | BaseException]) -> None:
    """Each future on its own loop; one call per loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], int | BaseException]]] = {}
    for (_, done), outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(done.get_loop(), []).append((done, outcome))
    for loop, results in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody awaits these any more
            loop.call_soon_threadsafe(_resolve, results)


def _resolve(results: list[tuple[asyncio.Future[int], int | BaseException]]) -> None:
    for done, outcome in results:
        if done.done():  # the request was cancelled; its record is stored all the same
            continue
        if isinstance(outcome, BaseException):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)
