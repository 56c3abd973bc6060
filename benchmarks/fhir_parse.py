"""FHIR parsing CPU: lean models (ldncds.fhir.lean) vs full fhir.resources R4B validation.

    .venv/bin/python benchmarks/fhir_parse.py [--repeats 7] [--patients 300] [--json out.json]

1. Validation alone, per resource type: every resource of the Synthea sample, of a seeded synthetic
   population (`ldncds synth`, which has Observations) and of the test fixtures, validated with
   `fhir.resources` (`model_validate`) and with `lean.parse`; CPU microseconds per resource. "lean
   path" is the share of resources the lean models vouch for (the rest go to full validation in the
   adapter, so for them lean mode costs lean + full).
2. The whole adapter (`facts_from_ndjson_group`, validation and mapping) for the 118-resource
   Synthea patient and for the largest one, with `validation="full"` and `validation="lean"`
   (interleaved run by run; median and minimum).

CPU time (time.process_time_ns), not wall-clock: other processes on the machine disturb it less.
Every measurement is warmed up once, then repeated; the median of the repeats is reported. The
loaded corpus is frozen out of the garbage collector (gc.freeze), so collections scan only what
the parsing allocates, as in a service that holds one request at a time.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from _common import EVALUATION_DATE, ROOT, machine, write_json

from ldncds.fhir import facts_from_ndjson_group, lean
from ldncds.fhir.adapter import _model_class

SYNTHEA = ROOT / "tests" / "fixtures" / "bulk" / "synthea-bulk-10"


def _cpu_us(call: Callable[[], Any], per: int, repeats: int) -> float:
    """Median CPU microseconds of one call divided by `per` (after one warm-up call)."""
    call()
    samples = []
    for _ in range(repeats):
        start = time.process_time_ns()
        call()
        samples.append((time.process_time_ns() - start) / 1000 / per)
    return round(statistics.median(samples), 1)


def _synthea_patients() -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(SYNTHEA.glob("*.ndjson.gz")):
        for line in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines():
            resource = json.loads(line)
            owner = resource["id"] if resource["resourceType"] == "Patient" else None
            reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
            groups[owner or reference.rsplit("/", 1)[-1]].append(resource)
    return dict(groups)


def _synthetic(count: int) -> list[dict[str, Any]]:
    from ldncds.screening import generate_population

    with tempfile.TemporaryDirectory(prefix="ldncds-bench-") as tmp:
        generate_population(count, Path(tmp), seed=7, on=EVALUATION_DATE)
        return [json.loads(line) for path in sorted(Path(tmp).glob("*.ndjson")) for line in path.open()]


def _fixtures() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            if value.get("resourceType") in lean.MODELS:
                found.append(value)
            for item in value.values():
                if isinstance(item, dict | list):
                    walk(item)

    for path in sorted((ROOT / "tests" / "fixtures").glob("[fh]*/**/*.json")):
        walk(json.loads(path.read_text()))
    return found


def _full_ok(resource: dict[str, Any]) -> bool:
    try:
        _model_class(resource["resourceType"]).model_validate(resource)
    except Exception:  # noqa: BLE001 - invalid fixtures (error cases) are left out of the timing
        return False
    return True


def _validate_all(validate: Callable[[dict[str, Any]], Any], items: list[dict[str, Any]]) -> None:
    for item in items:
        validate(item)


def _per_type(resources: list[dict[str, Any]], repeats: int) -> list[dict[str, Any]]:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for resource in resources:
        if resource["resourceType"] in lean.MODELS and _full_ok(resource):
            by_type[resource["resourceType"]].append(resource)
    rows = []
    for rtype, items in sorted(by_type.items()):
        full = _cpu_us(partial(_validate_all, _model_class(rtype).model_validate, items), len(items), repeats)
        fast = _cpu_us(partial(_validate_all, lean.parse, items), len(items), repeats)
        vouched = sum(lean.parse(r) is not None for r in items)
        rows.append(
            {
                "type": rtype,
                "resources": len(items),
                "full_us": full,
                "lean_us": fast,
                "speedup": round(full / fast, 1),
                "lean_path": f"{100 * vouched / len(items):.1f}%",
            }
        )
    return rows


def _chart(resources: list[dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Whole adapter, lean and full runs interleaved (so both see the same machine load)."""
    samples: dict[str, list[float]] = {"full": [], "lean": []}
    for validation in samples:
        facts_from_ndjson_group(resources, validation=validation)  # warm-up
    for _ in range(repeats):
        for validation, found in samples.items():
            start = time.process_time_ns()
            facts_from_ndjson_group(resources, validation=validation)
            found.append((time.process_time_ns() - start) / 1e6)
    full, fast = (statistics.median(samples[v]) for v in ("full", "lean"))
    return {
        "resources": len(resources),
        "full_ms": round(full, 2),
        "lean_ms": round(fast, 2),
        "speedup": round(full / fast, 1),
        "min_full_ms": round(min(samples["full"]), 2),
        "min_lean_ms": round(min(samples["lean"]), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--patients", type=int, default=300, help="synthetic patients (for Observations)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    patients = _synthea_patients()
    resources = [r for group in patients.values() for r in group] + _synthetic(args.patients) + _fixtures()
    sizes = sorted(patients, key=lambda pid: len(patients[pid]))
    chart_118 = next(pid for pid in sizes if len(patients[pid]) == 118)
    gc.freeze()  # the loaded corpus is not part of the work: keep the collector from rescanning it
    results = {
        "machine": machine(),
        "per_type": _per_type(resources, args.repeats),
        "charts": {
            "synthea_118": _chart(patients[chart_118], 5 * args.repeats),
            "synthea_largest": _chart(patients[sizes[-1]], max(3, args.repeats // 2)),
        },
    }
    write_json(results, args.json)
    _print_tables(results)


def _print_tables(results: dict[str, Any]) -> None:
    print("\n| type | resources | full µs | lean µs | speed-up | lean path |\n|---|---|---|---|---|---|")
    for row in results["per_type"]:
        print(
            f"| {row['type']} | {row['resources']} | {row['full_us']} | {row['lean_us']} "
            f"| {row['speedup']}x | {row['lean_path']} |"
        )
    print("\n| chart (whole adapter) | resources | full ms | lean ms | speed-up | min full / lean ms |")
    print("|---|---|---|---|---|---|")
    for name, chart in results["charts"].items():
        cells = [name, chart["resources"], chart["full_ms"], chart["lean_ms"], f"{chart['speedup']}x"]
        cells.append(f"{chart['min_full_ms']} / {chart['min_lean_ms']}")
        print("| " + " | ".join(str(cell) for cell in cells) + " |")


if __name__ == "__main__":
    main()
