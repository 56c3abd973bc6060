"""Work functions that fail inside an engine worker process, for the worker tests.

Module-level, so the pool can send them to a worker by name (the spawned worker imports this
module: the tests folder is on its sys.path, inherited from the test process).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from typing import Any

from ldncds.cdshooks import work
from ldncds.engine import Engine
from ldncds.service.worklet import Outcome


def _in_a_worker() -> None:
    if multiprocessing.parent_process() is None:
        raise RuntimeError("this work kills its process: run it only in an engine worker")


def patient_view_crashing_in_mapping(engine: Engine, task: work.HookTask) -> Outcome:
    """The real patient-view work, whose FHIR mapping kills the worker (as a segfault would)."""
    _in_a_worker()

    def crash(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)

    work.facts_from_resources = crash  # type: ignore[assignment]  # this process dies with it
    return work.patient_view(engine, task)


def patient_view_with_a_bug(engine: Engine, task: work.HookTask) -> Outcome:
    """The real patient-view work, then an unexpected exception (a bug in the worker)."""
    _in_a_worker()
    work.patient_view(engine, task)
    raise KeyError("a bug")


def echo(engine: Engine, task: bytes) -> Outcome:
    """The task's bytes back as the answer body (for the pool's own I/O tests)."""
    return Outcome(body=task)


def sleep_then_echo(engine: Engine, task: tuple[float, bytes]) -> Outcome:
    """Busy for `task[0]` seconds, then `task[1]` back."""
    import time

    time.sleep(task[0])
    return Outcome(body=task[1])


def young_collections_while_allocating(engine: Engine, task: int) -> Outcome:
    """Keep `task` container objects alive at once (as a large chart's models are), and answer
    the cyclic GC's young threshold and how many young collections ran meanwhile: "threshold,count"."""
    import gc

    before = gc.get_stats()[0]["collections"]
    held = [[i] for i in range(task)]
    ran = gc.get_stats()[0]["collections"] - before
    return Outcome(body=f"{gc.get_threshold()[0]},{ran},{len(held)}".encode())
