"""Group commit: concurrent writers of one process share a transaction, so they share its COMMIT.

The first writer in line leads: it waits up to `max_wait` seconds for the group to fill to
`max_size`, writes every member's rows in one transaction and wakes the members after COMMIT. Each
member's call returns only after the COMMIT of its own group; when the group's transaction fails,
every member raises (none of its rows is stored). Writers that arrive while a group is committing
queue up and form the next group, so a busy store batches without waiting at all.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .interface import StoreError


class GroupCommitError(StoreError):
    """The group this write belonged to could not be committed: nothing of the group was stored."""


@dataclass(eq=False)
class _Member:
    work: Any
    outcome: Any = None
    failure: BaseException | None = None
    done: bool = False


class Refused:
    """A member's own refusal (e.g. a duplicate): raised in that member only; the group still commits."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class GroupCommitter:
    """Runs `write(works)` for groups of callers: one transaction, one result (or Refused) per work."""

    def __init__(
        self, write: Callable[[Sequence[Any]], list[Any]], *, max_size: int, max_wait_s: float
    ) -> None:
        if max_size < 2:
            raise ValueError("a group commit needs max_size >= 2")
        self._write, self._max_size, self._max_wait_s = write, max_size, max(0.0, max_wait_s)
        self._cv = threading.Condition()
        self._queue: deque[_Member] = deque()
        self._leading = False
        self.groups = 0  # groups committed or failed (for tests and benchmarks)

    def submit(self, work: Any) -> Any:
        """Write `work` in the next group; returns its result after that group's COMMIT."""
        member = _Member(work)
        with self._cv:
            self._queue.append(member)
            self._cv.notify_all()  # a leader collecting its group counts the newcomer
            while not member.done and (self._leading or self._queue[0] is not member):
                self._cv.wait()
            if member.done:
                return _result(member)
            self._leading = True
            group = self._collect()
        self._run(group)
        return _result(member)

    def _collect(self) -> list[_Member]:
        """Called holding the lock, first in line: wait for the group to fill, then take it."""
        deadline = time.monotonic() + self._max_wait_s
        while len(self._queue) < self._max_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cv.wait(remaining)
        return [self._queue.popleft() for _ in range(min(self._max_size, len(self._queue)))]

    def _run(self, group: list[_Member]) -> None:
        try:
            outcomes = self._write([m.work for m in group])
            for m, outcome in zip(group, outcomes, strict=True):
                m.outcome = outcome
        except BaseException as exc:  # every member learns that its write was not stored
            for m in group:
                m.failure = exc
        finally:
            with self._cv:
                self.groups += 1
                for m in group:
                    m.done = True
                self._leading = False
                self._cv.notify_all()


def _result(member: _Member) -> Any:
    if member.failure is not None:
        name = type(member.failure).__name__
        raise GroupCommitError(f"the write was not stored: its group commit failed ({name})") from (
            member.failure
        )
    if isinstance(member.outcome, Refused):
        raise member.outcome.error
    return member.outcome
