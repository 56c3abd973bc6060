"""Resident memory of one process after 1,000 and after 100,000 assessments (durable engine).

    .venv/bin/python benchmarks/memory.py [--total 100000] [--json out.json]

RSS is VmRSS from /proc/self/status. The patients cycle through a fixed synthetic mix, and every
Assessment is dropped after use, as a long-running service would do. Also samples RSS along the way
so a slow leak shows as a slope, not just two points.
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

from _common import EVALUATION_DATE, example_facts, machine, rss_kib, synthetic_facts, write_json

from ldncds.engine import Engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--first", type=int, default=1_000)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    engine = Engine(matcher="durable")
    mix = example_facts() + synthetic_facts(args.patients)
    gc.collect()
    results: dict[str, Any] = {
        "machine": machine(),
        "ruleset": engine.version,
        "mix": len(mix),
        "rss_kib_before": rss_kib(),
        "samples": [],
    }
    start = time.perf_counter()
    checkpoints = sorted({args.first, *range(10_000, args.total + 1, 10_000), args.total})
    done = 0
    for checkpoint in checkpoints:
        while done < checkpoint:
            engine.assess(mix[done % len(mix)], EVALUATION_DATE)
            done += 1
        gc.collect()
        results["samples"].append(
            {"assessments": done, "rss_kib": rss_kib(), "seconds": round(time.perf_counter() - start, 1)}
        )
    first = next(s["rss_kib"] for s in results["samples"] if s["assessments"] == args.first)
    last = results["samples"][-1]["rss_kib"]
    results["rss_kib_after_first"] = first
    results["rss_kib_after_total"] = last
    results["growth_percent"] = round(100 * (last - first) / first, 2)
    results["machine_after"] = machine()
    write_json(results, args.json_out)


if __name__ == "__main__":
    main()
