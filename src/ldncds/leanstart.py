"""Worker processes that start lean: a spawned child never re-runs the parent's `__main__`.

With the `spawn` start method, multiprocessing re-imports the parent's main module in every child
(for `ldncds ...` that is the whole CLI import graph: ~0.6 s and ~30 MB per worker) even though the
worker targets live in ldncds modules. `LEAN_SPAWN` is the spawn context with that step skipped;
`settle()` freezes the start-up objects so the cyclic GC never walks them again, and
`young_collections_deferred()` keeps it from walking one job's own objects while the job runs.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import SpawnContext, SpawnProcess

_MAIN_LOCK = threading.Lock()
# Net allocations before a young collection while a job runs: more than any one job makes.
DEFERRED_GC_THRESHOLD = 100_000
_GC_LOCK = threading.Lock()
_deferring = 0  # jobs running inside young_collections_deferred
_saved_threshold: tuple[int, ...] = gc.get_threshold()
_HIDDEN = ("__file__", "__spec__")


class LeanSpawnProcess(SpawnProcess):
    """A spawn process whose child does not import the parent's `__main__` module."""

    def start(self) -> None:
        # The preparation data is read from __main__ inside start(); hide what names it, then restore.
        main = sys.modules["__main__"]
        with _MAIN_LOCK:
            saved = {name: main.__dict__.pop(name) for name in _HIDDEN if name in main.__dict__}
            main.__spec__ = None  # multiprocessing reads it unconditionally; None = "no module name"
            try:
                super().start()
            finally:
                main.__dict__.pop("__spec__", None)
                main.__dict__.update(saved)


class LeanSpawnContext(SpawnContext):
    Process = LeanSpawnProcess


LEAN_SPAWN = LeanSpawnContext()


def settle() -> None:
    """Call once a worker has finished start-up: imports and the compiled engine become permanent."""
    gc.collect()
    gc.freeze()


@contextmanager
def young_collections_deferred() -> Iterator[None]:
    """Let the cyclic GC's youngest generation wait for the end of a job (a batch of patients, one
    request's work). The threshold is global: overlapping jobs share one deferral.

    One patient or chart holds thousands of pydantic objects at once, so the default threshold (700
    net allocations) collected the young generation many times per job, each time walking all of
    them (a 118-resource chart: 8 young and 0.75 middle collections, ~1.2 ms of ~20). Reference
    counting frees nearly everything anyway; once the threshold is restored, the next young
    collection finds whatever cycles are left.
    """
    global _deferring, _saved_threshold
    with _GC_LOCK:  # jobs may overlap (a Dask worker with several threads): the last one restores
        if _deferring == 0:
            _saved_threshold = gc.get_threshold()
            gc.set_threshold(DEFERRED_GC_THRESHOLD, *_saved_threshold[1:])
        _deferring += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _deferring -= 1
            if _deferring == 0:
                gc.set_threshold(*_saved_threshold)
