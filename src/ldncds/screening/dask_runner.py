"""Screening on a Dask cluster, partitioned by patient.

The ruleset the driver loaded and checked is broadcast once, and each worker process compiles its
Engine once (module-level cache keyed by the rules' content hash). On a cluster of your own
(`--scheduler`) the driver reads each batch's lines (cheap, by offset) and sends them as bytes:
workers need neither the export nor the rules on their own disk. Without a scheduler address a
LocalCluster of processes on 127.0.0.1 is started for the run, and its workers read the lines by
offset themselves, as pool workers do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

from ldncds.engine import LoadedRuleset
from ldncds.leanstart import settle

from .bulk import LineReader, RawLine
from .patient import Matcher, PatientOutcome, engine_for, screen_lines
from .window import ordered_window

if TYPE_CHECKING:
    from .bulk import ExportFiles
    from .runner import Batch, Runner, ScreenOptions


# Measured on this workload: Dask's nanny default MALLOC_TRIM_THRESHOLD_=65536 made each patient
# about 60% slower (glibc keeps returning memory to the system while pydantic allocates), and the
# workers' statistical profiler cost about 9% more CPU. Neither is needed for a screening run.
# Workers forked from a fork server (as the process pool's are) instead of spawned: each spawned
# worker imported dask, distributed and the screening code again (about 10% of a 3,000-patient run).
LOCAL_CLUSTER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.worker.multiprocessing-method": "forkserver",
}


def warm_worker(rules: LoadedRuleset, matcher: Matcher, present: frozenset[str]) -> bool:
    """Compile the engine and import the FHIR model classes before the first batch arrives."""
    from fhir.resources.R4B import get_fhir_model_class

    engine_for(rules, matcher)
    for rtype in sorted(present):
        get_fhir_model_class(rtype)
    settle()  # as in pool workers: the cyclic GC never walks the start-up objects again
    return True


Payload = list[tuple[str, list[tuple[str, int, bytes]]]]


class Sealed:
    """A task argument Dask passes on without looking inside.

    Client.submit walks list, tuple, dict and set arguments item by item for futures and keys: for
    a batch (thousands of small tuples of line offsets) that walk was about an eighth of the
    driver's CPU. A batch holds no futures, so it travels sealed and is pickled as one object.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __reduce__(self) -> tuple[type[Sealed], tuple[Any]]:
        return (Sealed, (self.value,))


def screen_payload(
    payload: Sealed,
    rules: LoadedRuleset,
    on: date,
    present: Sealed,
    matcher: Matcher,
    keep: bool = False,
) -> list[PatientOutcome]:
    """Dask task: screen one batch of patients (a sealed Payload) whose lines travel with the task."""
    engine = engine_for(rules, matcher)
    lines_of: Payload = payload.value
    records = [(key, [RawLine(f, n, data) for f, n, data in lines]) for key, lines in lines_of]
    return screen_lines(records, engine, on, present.value, keep)


_READERS: dict[tuple[str, ...], LineReader] = {}


def screen_offsets(
    batch: Sealed,
    files: Sealed,
    rules: LoadedRuleset,
    on: date,
    present: Sealed,
    matcher: Matcher,
    keep: bool = False,
) -> list[PatientOutcome]:
    """Dask task on this machine's LocalCluster: the worker reads the batch's lines itself (a sealed
    Batch of offsets into the sealed tuple of files)."""
    paths: tuple[str, ...] = files.value
    reader = _READERS.get(paths) or _READERS.setdefault(paths, LineReader(paths))
    entries_of: Batch = batch.value
    records = [(key, reader.read(entries)) for key, entries in entries_of]
    return screen_lines(records, engine_for(rules, matcher), on, present.value, keep)


@contextmanager
def dask_backend(export: ExportFiles, options: ScreenOptions, rules: LoadedRuleset) -> Iterator[Runner]:
    """A connected (or freshly started local) cluster; yields a function from batches to outcomes."""
    import dask
    from dask.distributed import Client, LocalCluster

    with ExitStack() as stack:
        if options.scheduler:
            client = stack.enter_context(Client(options.scheduler))
        else:
            stack.enter_context(dask.config.set(LOCAL_CLUSTER_CONFIG))
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=max(1, options.workers),
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(Client(cluster))
        reader = LineReader(export.files)
        stack.callback(reader.close)
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        shipped = client.scatter(rules, broadcast=True)
        present, on, matcher = export.present_types, options.evaluation_date, options.matcher
        # One warm-up per worker, not waited for: it overlaps the index pass (kept referenced until the end).
        warming = [
            client.submit(warm_worker, shipped, matcher, present, workers=[address], pure=False)
            for address in client.scheduler_info().get("workers", {})
        ]
        stack.callback(warming.clear)

        files, local = Sealed(tuple(str(f) for f in export.files)), not options.scheduler
        sealed_present = Sealed(present)

        def submit(task: Callable[..., list[PatientOutcome]], *lines: Sealed) -> Any:
            """The batch's lines (offsets, or the bytes), then what every task gets."""
            common = (shipped, on, sealed_present, matcher, options.keep)
            return client.submit(task, *lines, *common, pure=False, retries=1)

        def submitter(batch: Batch) -> Callable[[], Any]:
            if local:  # the workers this run started see the same files
                return lambda: submit(screen_offsets, Sealed(batch), files)
            payload = [
                (key, [(r.file, r.line, r.data) for r in reader.read(entries)]) for key, entries in batch
            ]
            return lambda: submit(screen_payload, Sealed(payload))

        def run(work: Iterator[Batch]) -> Iterator[list[PatientOutcome]]:
            yield from ordered_window((submitter(batch) for batch in work), limit=4 * workers)

        yield run
