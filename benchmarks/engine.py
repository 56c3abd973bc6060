"""In-process assessment time: durable_rules engine vs the plain-Python oracle of the same YAML.

    .venv/bin/python benchmarks/engine.py [--runs 5000] [--json out.json]

Patients: examples/*.json plus synthetic patients (ldncds synth, mapped through the FHIR adapter),
cycled in a fixed order. Both matchers see the same facts, after the same warm-up. Also times
`derive` (facts -> engine facts) alone and the matching calls alone, and a few very large real-shaped
records (the Synthea sample, ~340 resources per patient) separately.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import EVALUATION_DATE, example_facts, machine, percentiles, synthetic_facts, write_json

from ldncds.engine import Engine
from ldncds.engine.derive import derive

SYNTHEA = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "bulk" / "synthea-bulk-10"  # gzip copy


def _time(call: Callable[[Any], Any], items: list[Any], runs: int, warmup: int) -> list[int]:
    for i in range(warmup):
        call(items[i % len(items)])
    samples = []
    clock = time.perf_counter_ns
    for i in range(runs):
        item = items[i % len(items)]
        start = clock()
        call(item)
        samples.append(clock() - start)
    return samples


class _MatchTimer:
    """Wraps a matcher to add up the time spent inside matching (both phases) per assessment."""

    def __init__(self, matcher: Any) -> None:
        self.inner, self.total_ns = matcher, 0

    def run(self, phase: str, facts: Any) -> Any:
        start = time.perf_counter_ns()
        try:
            return self.inner.run(phase, facts)
        finally:
            self.total_ns += time.perf_counter_ns() - start


def _matching_share(engine: Engine, items: list[Any], runs: int) -> dict[str, float]:
    timer = _MatchTimer(engine.matcher)
    engine.matcher = timer  # type: ignore[assignment]
    try:
        start = time.perf_counter_ns()
        for i in range(runs):
            engine.assess(items[i % len(items)], EVALUATION_DATE)
        total = time.perf_counter_ns() - start
    finally:
        engine.matcher = timer.inner
    return {
        "matching_mean_us": round(timer.total_ns / runs / 1000, 1),
        "share_of_assess": round(timer.total_ns / total, 3),
    }


def _synthea_facts() -> list[Any]:
    if not SYNTHEA.is_dir():
        return []
    from ldncds.screening import build_index, discover
    from ldncds.screening.bulk import LineReader
    from ldncds.screening.patient import prepare

    export = discover(SYNTHEA)
    index = build_index(export)
    reader = LineReader(export.files)
    facts = [prepare(k, reader.read(e), export.present_types).facts for k, e in index.groups()]
    reader.close()
    return [f for f in facts if f is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--patients", type=int, default=300, help="synthetic patients in the mix")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()

    durable = Engine(matcher="durable")
    oracle = Engine(durable.ruleset, matcher="oracle")
    typical = example_facts() + synthetic_facts(args.patients)
    sizes = [
        sum(
            len(getattr(f, s) or [])
            for s in ("conditions", "medications", "procedures", "allergies", "observations")
        )
        for f in typical
    ]
    on = EVALUATION_DATE
    results: dict[str, Any] = {
        "machine": machine(),
        "ruleset": durable.version,
        "typical_patients": len(typical),
        "warmup": args.warmup,
        "facts_per_patient_mean": round(sum(sizes) / len(sizes), 1),
    }
    rows = {}
    for name, engine in (("durable", durable), ("oracle", oracle)):
        rows[name] = percentiles(_time(lambda f, e=engine: e.assess(f, on), typical, args.runs, args.warmup))
        rows[name] |= _matching_share(engine, typical, min(args.runs, 2000))
    valuesets = durable.ruleset.valuesets
    rows["derive"] = percentiles(_time(lambda f: derive(f, on, valuesets), typical, args.runs, args.warmup))
    results["typical"] = rows
    large = _synthea_facts()
    if large:
        runs = max(len(large) * 4, 50)
        results["large_records"] = {
            "patients": len(large),
            "facts_per_patient_mean": round(
                sum(
                    len(f.conditions or []) + len(f.medications or []) + len(f.procedures or [])
                    for f in large
                )
                / len(large),
                1,
            ),
            "durable": percentiles(_time(lambda f: durable.assess(f, on), large, runs, len(large))),
            "oracle": percentiles(_time(lambda f: oracle.assess(f, on), large, runs, len(large))),
        }
    write_json(results, args.json_out)


if __name__ == "__main__":
    main()
