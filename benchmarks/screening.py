"""Screening throughput (patients/s) over a synthetic bulk export, and where the time goes.

    .venv/bin/python benchmarks/screening.py [--patients 5000] [--json out.json] [--skip-dask]

Runs, one after the other on the same files: 1 worker with the durable engine, 1 worker with the
plain-Python oracle (the floor), all cores (process pool), and a Dask LocalCluster with all cores.
Then times each stage separately on one core (index pass, reading, JSON, FHIR validation, the rest
of the mapping, derive, rule matching, assembling the Assessment) to show where time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import EVALUATION_DATE, machine, write_json

try:
    import psutil  # installed with dask.distributed
except ImportError:  # pragma: no cover - counts reaped children only
    psutil = None

import ldncds.fhir.adapter as adapter
from ldncds.engine.derive import derive
from ldncds.screening import (
    ScreenOptions,
    build_index,
    default_workers,
    discover,
    generate_population,
    screen_export,
)
from ldncds.screening.bulk import LineReader
from ldncds.screening.patient import engine_for, prepare


class _CpuMeter:
    """CPU seconds of this process and all its descendants (pool workers, Dask nannies and workers).

    Descendants are sampled every 0.2 s with psutil (their last sample counts once they exit), so
    Dask's grandchildren are included; without psutil only reaped children are counted.
    """

    def __init__(self) -> None:
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _CpuMeter:
        self._start_self = self._own()
        self._start_children = self._reaped()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.seconds = self._own() - self._start_self
        sampled = sum(self._seen.values())
        self.seconds += sampled if psutil is not None else self._reaped() - self._start_children

    @staticmethod
    def _own() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return own.ru_utime + own.ru_stime

    @staticmethod
    def _reaped() -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return children.ru_utime + children.ru_stime

    def _sample(self) -> None:
        if psutil is None:
            return
        me = psutil.Process()
        while not self._stop.wait(0.2):
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    times = child.cpu_times()
                    self._seen[child.pid] = times.user + times.system


def _run(folder: Path, **options: Any) -> dict[str, Any]:
    decisions: dict[str, int] = {}
    ticks: list[tuple[float, int]] = []  # (time, patients done) after each batch

    def count(row: Any) -> None:
        decisions[row.decision] = decisions.get(row.decision, 0) + 1

    def progress(done: int, total: int) -> None:
        ticks.append((time.perf_counter(), done))

    load = os.getloadavg()[0]
    start = time.perf_counter()
    settings = ScreenOptions(evaluation_date=EVALUATION_DATE, **options)
    with _CpuMeter() as cpu:
        summary = screen_export(folder, settings, count, lambda b: None, progress)
    wall = time.perf_counter() - start
    # Steady state: from the first finished batch to the last (index pass and worker start-up excluded).
    (t0, n0), (t1, n1) = ticks[0], ticks[-1]
    return {
        "workers": summary.workers,
        "backend": summary.backend,
        "matcher": options.get("matcher", "durable"),
        "patients": summary.patients,
        "load_at_start": round(load, 2),
        "seconds": round(wall, 2),
        "index_seconds": round(summary.index_seconds, 2),
        "patients_per_second": round(summary.patients / wall, 1),
        "steady_patients_per_second": round((n1 - n0) / (t1 - t0), 1) if t1 > t0 else None,
        "cpu_seconds": round(cpu.seconds, 2),
        "cores_used": round(cpu.seconds / wall, 2),  # CPU actually obtained: < workers on a busy machine
        "bad_lines": summary.bad_lines,
        "decisions": dict(sorted(decisions.items())),
    }


class _Stopwatch:
    def __init__(self) -> None:
        self.ns: dict[str, int] = {}

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter_ns()
            try:
                return func(*args, **kwargs)
            finally:
                self.ns[name] = self.ns.get(name, 0) + time.perf_counter_ns() - start

        return timed

    def add(self, name: str, start: int) -> None:
        self.ns[name] = self.ns.get(name, 0) + time.perf_counter_ns() - start


def _stages(folder: Path, limit: int) -> dict[str, Any]:
    """Per-stage time on one core, with light wrappers (no profiler overhead)."""
    watch = _Stopwatch()
    engine = engine_for(None)
    # Validation: the lean models (`_vouched`) and fhir.resources (`_validate_full`, the fallback or
    # full mode). Neither calls the other, so their times add up.
    originals = {name: getattr(adapter, name) for name in ("_vouched", "_validate_full")}
    for name, original in originals.items():
        setattr(adapter, name, watch.wrap("fhir_validation", original))
    engine.matcher = _Matcher(engine.matcher, watch)  # type: ignore[assignment]
    try:
        start = time.perf_counter_ns()
        export = discover(folder)
        index = build_index(export)
        watch.add("index_pass", start)
        reader = LineReader(export.files)
        patients = 0
        for key, entries in index.groups():
            if patients >= limit:
                break
            patients += 1
            start = time.perf_counter_ns()
            lines = reader.read(entries)
            watch.add("read_lines", start)
            start = time.perf_counter_ns()
            for line in lines:
                json.loads(line.data)
            watch.add("json_parse_extra_copy", start)  # prepare parses again: subtracted below
            start = time.perf_counter_ns()
            prepared = prepare(key, lines, export.present_types)
            watch.add("prepare", start)
            start = time.perf_counter_ns()
            derive(prepared.facts, EVALUATION_DATE, engine.ruleset.valuesets)
            watch.add("derive_extra_copy", start)  # assess derives again: subtracted below
            start = time.perf_counter_ns()
            engine.assess(prepared.facts, EVALUATION_DATE)
            watch.add("assess", start)
        reader.close()
    finally:
        for name, original in originals.items():
            setattr(adapter, name, original)
        engine.matcher = engine.matcher.inner  # type: ignore[attr-defined]
    ns = watch.ns
    # The index pass covers the whole export; scale it to the patients timed.
    index_share = ns["index_pass"] * patients / max(1, index.patient_count())
    stages = {
        "index pass (JSON parse + patient key, per patient)": index_share,
        "read lines by offset": ns["read_lines"],
        "JSON parse in worker": ns["json_parse_extra_copy"],
        "FHIR validation (lean models, fhir.resources fallback)": ns["fhir_validation"],
        "FHIR -> PatientFacts mapping (rest of adapter)": ns["prepare"]
        - ns["fhir_validation"]
        - ns["json_parse_extra_copy"],
        "derive (engine facts)": ns["derive_extra_copy"],
        "rule matching (durable_rules, 2 phases)": ns["matching"],
        "assembling the Assessment (explanations, plan)": ns["assess"]
        - ns["matching"]
        - ns["derive_extra_copy"],
    }
    total = sum(stages.values())
    return {
        "patients": patients,
        "ms_per_patient_total": round(total / patients / 1e6, 3),
        "stages": {
            name: {"ms_per_patient": round(v / patients / 1e6, 3), "share": round(v / total, 3)}
            for name, v in stages.items()
        },
    }


def _warm_up() -> None:
    """First calls build validators and caches lazily: pay that before any timed run, for every run alike."""
    with tempfile.TemporaryDirectory(prefix="ldncds-warm-") as tmp:
        generate_population(100, Path(tmp), seed=1, on=EVALUATION_DATE)
        for matcher in ("durable", "oracle"):
            options = ScreenOptions(evaluation_date=EVALUATION_DATE, matcher=matcher)  # type: ignore[arg-type]
            screen_export(Path(tmp), options, lambda row: None, lambda bad: None)


class _Matcher:
    def __init__(self, inner: Any, watch: _Stopwatch) -> None:
        self.inner, self.run = inner, watch.wrap("matching", inner.run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--stage-patients", type=int, default=1000)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    cores = default_workers()
    with tempfile.TemporaryDirectory(prefix="ldncds-screen-bench-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        synth = generate_population(args.patients, folder, seed=args.seed, on=EVALUATION_DATE)
        results: dict[str, Any] = {
            "machine": machine(),
            "population": {
                "patients": synth.patients,
                "resources": sum(synth.resources.values()),
                "by_type": dict(sorted(synth.resources.items())),
                "bytes": sum(p.stat().st_size for p in folder.iterdir()),
                "generate_seconds": round(time.perf_counter() - start, 2),
            },
            "runs": [],
        }
        _warm_up()
        results["runs"].append(_run(folder, workers=1))
        results["runs"].append(_run(folder, workers=1, matcher="oracle"))
        results["runs"].append(_run(folder, workers=cores))
        if not args.skip_dask:
            results["runs"].append(_run(folder, workers=cores, backend="dask"))
        results["stages"] = _stages(folder, args.stage_patients)
        results["machine_after"] = machine()
    write_json(results, args.json_out)


if __name__ == "__main__":
    main()
