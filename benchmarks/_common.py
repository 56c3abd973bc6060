"""Shared helpers for the benchmark scripts (not a test module): machine facts, percentiles, RSS, inputs."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVALUATION_DATE = date(2026, 3, 1)


def machine() -> dict[str, Any]:
    """CPU model, cores, Python, date and load: what a reader needs to compare numbers."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": [round(x, 2) for x in load],
    }


def speed_probe(rounds: int = 5) -> float:
    """CPU ms of a fixed pure-Python workload (integer loop, dict and str churn), best of `rounds`.

    The vCPUs of this machine change speed from hour to hour; the same code measured in two runs
    scales with this number, so runs are compared by it (docs/benchmarks.md, "Machine")."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        total, seen = 0, {}
        for i in range(400_000):
            total += i * i % 7
            seen[str(i % 1000)] = i
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)


def percentiles(samples_ns: Sequence[int]) -> dict[str, float]:
    """median, p99 and mean in microseconds."""
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {
        "runs": len(ordered),
        "median_us": round(statistics.median(ordered) / 1000, 1),
        "p99_us": round(p99 / 1000, 1),
        "mean_us": round(statistics.fmean(ordered) / 1000, 1),
    }


def rss_kib() -> int:
    """Resident memory of this process (VmRSS), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("VmRSS not found")


def synthetic_facts(count: int, seed: int = 1) -> list[Any]:
    """PatientFacts of a synthetic population, mapped through the real FHIR adapter."""
    from ldncds.screening import build_index, discover, generate_population
    from ldncds.screening.bulk import LineReader
    from ldncds.screening.patient import prepare

    with tempfile.TemporaryDirectory(prefix="ldncds-bench-") as tmp:
        generate_population(count, Path(tmp), seed=seed, on=EVALUATION_DATE)
        export = discover(Path(tmp))
        index = build_index(export)
        reader = LineReader(export.files)
        facts = [
            prepare(key, reader.read(entries), export.present_types).facts for key, entries in index.groups()
        ]
        reader.close()
    return [f for f in facts if f is not None]


def example_facts() -> list[Any]:
    from ldncds.engine import PatientFacts

    return [
        PatientFacts.model_validate_json(p.read_bytes()) for p in sorted((ROOT / "examples").glob("*.json"))
    ]


def write_json(data: dict[str, Any], path: str | None) -> None:
    text = json.dumps(data, indent=2, default=str)
    if path:
        Path(path).write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
