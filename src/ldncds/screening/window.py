"""A bounded window of in-flight batches, shared by the process-pool and dask backends.

Its own module so that dask_runner needs nothing from runner at run time (runner imports dask_runner).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future

from .patient import PatientOutcome


def ordered_window(submits: Iterable[Callable[[], Future]], limit: int) -> Iterator[list[PatientOutcome]]:
    """Keep at most `limit` batches in flight; yield results in submission order."""
    pending: deque[Future] = deque()
    for submit in submits:
        pending.append(submit())
        if len(pending) >= limit:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
