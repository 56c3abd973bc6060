"""Worker processes that start lean: a spawned child never re-runs the parent's `__main__`.

With the `spawn` start method, multiprocessing re-imports the parent's main module in every child
(for `ldncds ...` that is the whole CLI import graph: ~0.6 s and ~30 MB per worker) even though the
worker targets live in ldncds modules. `LEAN_SPAWN` is the spawn context with that step skipped;
`settle()` freezes the start-up objects so the cyclic GC never walks them again.
"""

from __future__ import annotations

import gc
import sys
import threading
from multiprocessing.context import SpawnContext, SpawnProcess

_MAIN_LOCK = threading.Lock()
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
