"""Population screening: index the export, screen patients in batches, stream rows in key order.

Backends: in-process (one worker), a process pool (all cores; workers forked from a fork server
that imported this code once, see `worker_context`) or Dask (see dask_runner). The rules
are loaded and checked once, in the calling process, and every worker compiles its Engine from that
LoadedRuleset (unpickling it costs a tenth of reading and validating the files again). All three
run the same `screen_lines` on the same batches, so their outputs are identical. Batches are
submitted through a bounded window, so neither the queue nor the results ever hold more than a few
batches: memory stays bounded by the index and the largest patient.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from multiprocessing.context import BaseContext, ForkServerContext
from multiprocessing.popen_forkserver import Popen
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Literal

from fhir.resources.R4B import get_fhir_model_class

from ldncds.engine import Engine, LoadedRuleset
from ldncds.leanstart import LEAN_SPAWN, LeanSpawnProcess, settle

from .bulk import DEFAULT_SPILL_AT, BadLine, ExportFiles, LineReader, build_index, discover
from .patient import Matcher, PatientOutcome, ScreeningRow, engine_for, screen_lines
from .window import ordered_window

Entries = list[tuple[int, int, int, int]]
Batch = list[tuple[str, Entries]]


@dataclass
class ScreenOptions:
    evaluation_date: date
    rules_dir: Path | None = None
    ruleset: LoadedRuleset | None = None  # already loaded by the caller: rules_dir is then not read
    workers: int = 1
    backend: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    matcher: Matcher = "durable"
    batch_patients: int = 32
    batch_resources: int = 1000
    spill_at: int = DEFAULT_SPILL_AT
    keep: bool = False  # bring each assessment back with its row (for --record)


@dataclass
class ScreenSummary:
    patients: int = 0
    lines: int = 0
    bad_lines: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    index_seconds: float = 0.0
    seconds: float = 0.0
    workers: int = 1
    backend: str = "local"
    ruleset_version: str = ""
    ignored_files: tuple[str, ...] = ()
    spilled: bool = False

    @property
    def patients_per_second(self) -> float:
        return self.patients / self.seconds if self.seconds else 0.0


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def screen_export(
    folder: Path,
    options: ScreenOptions,
    on_row: Callable[[ScreeningRow], None],
    on_bad: Callable[[BadLine], None],
    on_progress: Callable[[int, int], None] | None = None,
    on_outcome: Callable[[PatientOutcome], None] | None = None,
) -> ScreenSummary:
    """Screen every patient of a bulk export; rows arrive in patient-key order.

    With workers > 1 the pool uses the "spawn" start method: a calling script needs the usual
    `if __name__ == "__main__":` guard. `on_outcome` sees each patient's outcome (with the
    assessment when options.keep) before its row goes to `on_row`.
    """
    started = time.perf_counter()
    # Fail fast, in this process, on broken rules; the workers get this ruleset, not the files.
    ruleset = options.ruleset or engine_for(options.rules_dir, options.matcher).ruleset
    export = discover(folder)
    with ExitStack() as stack:
        # Start the workers first: their imports and engine compilation overlap the index pass.
        run = stack.enter_context(_backend(export, options, ruleset))
        index = build_index(export, spill_at=options.spill_at)
        stack.callback(index.close)
        summary = ScreenSummary(
            lines=index.lines,
            index_seconds=time.perf_counter() - started,
            workers=max(1, options.workers),
            backend=options.backend,
            ruleset_version=ruleset.version,
            ignored_files=export.ignored,
            spilled=index.spilled,
        )
        for bad in index.bad:
            on_bad(bad)
        summary.bad_lines = len(index.bad)
        work = batches(index.groups(), options.batch_patients, options.batch_resources)
        _collect(run(work), index.patient_count(), summary, on_row, on_bad, on_progress, on_outcome)
    summary.seconds = time.perf_counter() - started
    return summary


def _collect(
    results: Iterator[list[PatientOutcome]],
    total: int,
    summary: ScreenSummary,
    on_row: Callable[[ScreeningRow], None],
    on_bad: Callable[[BadLine], None],
    on_progress: Callable[[int, int], None] | None,
    on_outcome: Callable[[PatientOutcome], None] | None = None,
) -> None:
    for outcomes in results:
        for outcome in outcomes:
            if outcome.row.ruleset_version != summary.ruleset_version:
                # A worker with other rules would make the whole run meaningless.
                raise RuntimeError(f"a worker used ruleset {outcome.row.ruleset_version}")
            for bad in outcome.bad:
                on_bad(bad)
            summary.bad_lines += len(outcome.bad)
            summary.decisions[outcome.row.decision] += 1
            summary.patients += 1
            if on_outcome is not None:
                on_outcome(outcome)
            on_row(outcome.row)
        if on_progress:
            on_progress(summary.patients, total)


def batches(groups: Iterable[tuple[str, Entries]], max_patients: int, max_resources: int) -> Iterator[Batch]:
    """Consecutive patients, cut by count or by resources so one batch stays small in memory."""
    batch: Batch = []
    resources = 0
    for key, entries in groups:
        if batch and (len(batch) >= max_patients or resources + len(entries) > max_resources):
            yield batch
            batch, resources = [], 0
        batch.append((key, entries))
        resources += len(entries)
    if batch:
        yield batch


Runner = Callable[[Iterator[Batch]], Iterator[list[PatientOutcome]]]


@contextmanager
def _backend(export: ExportFiles, options: ScreenOptions, rules: LoadedRuleset) -> Iterator[Runner]:
    """A started backend: a function from batches to outcomes (in batch order)."""
    if options.backend == "dask":
        from .dask_runner import dask_backend

        with dask_backend(export, options, rules) as run:
            yield run
    elif options.workers <= 1:
        yield lambda work: _run_here(work, export, options, rules)
    else:
        with _pool_backend(export, options, rules) as run:
            yield run


def _run_here(
    work: Iterator[Batch], export: ExportFiles, options: ScreenOptions, rules: LoadedRuleset
) -> Iterator[list[PatientOutcome]]:
    reader = LineReader(export.files)
    engine = engine_for(rules, options.matcher)
    try:
        for batch in work:
            records = [(key, reader.read(entries)) for key, entries in batch]
            yield screen_lines(records, engine, options.evaluation_date, export.present_types, options.keep)
    finally:
        reader.close()


# ---------------------------------------------------------------------------------------------------------
# Process pool: the worker state lives in module globals, set once by the initializer.


@dataclass
class _WorkerState:
    reader: LineReader
    engine: Engine
    present: frozenset[str]


_worker: _WorkerState | None = None


def _init_worker(files: list[str], rules: LoadedRuleset, matcher: Matcher, present: frozenset[str]) -> None:
    global _worker
    # The engine is compiled once per process and reused for every batch.
    _worker = _WorkerState(LineReader(files), engine_for(rules, matcher), present)
    for rtype in sorted(present):
        get_fhir_model_class(rtype)  # import the FHIR model classes now, while the index is being built
    settle()


def _pool_batch(batch: Batch, on: date, keep: bool = False) -> list[PatientOutcome]:
    if _worker is None:
        raise RuntimeError("screening worker used before its initializer ran")
    records = [(key, _worker.reader.read(entries)) for key, entries in batch]
    return screen_lines(records, _worker.engine, on, _worker.present, keep)


def _ready() -> bool:
    return True


class _LeanForkServerProcess(LeanSpawnProcess):
    """A worker forked by the fork server, which has imported the screening code once already.

    Each spawned worker paid the same import (about 0.5 s CPU: pydantic builds every model's
    validator) before its first patient; forked from the server, a worker starts with it done. The
    server is a fresh single-threaded interpreter, not a copy of this process, so none of this
    process's threads or durable_rules state is copied. As with LEAN_SPAWN, the child does not
    re-run the parent's __main__ (LeanSpawnProcess.start hides it while the process starts).
    """

    _start_method = "forkserver"

    @staticmethod
    def _Popen(process_obj: BaseProcess) -> Popen:  # type: ignore[override]  # noqa: N802 - its name
        return Popen(process_obj)


class _LeanForkServerContext(ForkServerContext):
    Process = _LeanForkServerProcess  # type: ignore[assignment]


def worker_context() -> BaseContext:
    """The start method for pool workers: the lean fork server where the platform has one, else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return LEAN_SPAWN
    context = _LeanForkServerContext()
    # What the server imports before forking (no effect once this process's server runs).
    context.set_forkserver_preload([__name__])
    return context


@contextmanager
def _pool_backend(export: ExportFiles, options: ScreenOptions, rules: LoadedRuleset) -> Iterator[Runner]:
    # Never a fork of this process: it may run threads (progress display), and durable_rules' C
    # state must not be copied half-way through a call. The fork server is a fresh process.
    init = ([str(f) for f in export.files], rules, options.matcher, export.present_types)
    with ProcessPoolExecutor(
        options.workers, mp_context=worker_context(), initializer=_init_worker, initargs=init
    ) as pool:
        for _ in range(options.workers):
            pool.submit(_ready)  # start every worker now, not on the first real batch

        def run(work: Iterator[Batch]) -> Iterator[list[PatientOutcome]]:
            on = options.evaluation_date
            submits = (
                lambda batch=batch: pool.submit(_pool_batch, batch, on, options.keep) for batch in work
            )
            yield from ordered_window(submits, limit=4 * options.workers)

        yield run
