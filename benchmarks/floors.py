"""The fixed costs under the lean-path targets: what no change to ldncds' own code can remove.

    .venv/bin/python benchmarks/floors.py [--runs 3000] [--patients 300] [--json out.json]

1. durable_rules' C core. A session's set-up is paid once per phase and patient, whatever the
   facts: creating a session allocates and clears the join memories of every rule of the phase
   (`createStateNode` in durable_rules' state.c). Measured with one fact that every test of the
   phase refuses; the cost per fact then comes from the typical patients' own facts, replayed
   phase by phase exactly as the engine sent them.
2. pydantic-core. The cheapest validation of a resource (a model of `resourceType` and `id`,
   everything else ignored) against the lean models' full check, per resource, on the resources
   of a synthetic population; and orjson's parse of the same lines.
3. A worker's memory, step by step, in a fresh process: the interpreter, pydantic, the engine
   modules, the loaded rules and their durable_rules compilation (the engine), then fhir_core's
   primitive types (which the lean models reuse), the FHIR and CDS Hooks work modules, and
   patient-view requests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import (
    EVALUATION_DATE,
    ROOT,
    example_facts,
    machine,
    percentiles,
    rss_kib,
    synthetic_facts,
    write_json,
)

HOOK_REQUEST = ROOT / "tests" / "fixtures" / "http" / "patient_view_candidate.json"


def _median_us(call: Callable[[], Any], runs: int) -> float:
    call()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(runs):
        start = clock()
        call()
        samples.append(clock() - start)
    return percentiles(samples)["median_us"]


class _Recorder:
    """Wraps a matcher and keeps every (phase, facts) it was asked to match."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, []

    def run(self, phase: str, facts: Sequence[dict[str, Any]]) -> Any:
        self.calls.append((phase, list(facts)))
        return self.inner.run(phase, facts)


def c_core(runs: int, patients: int) -> dict[str, Any]:
    from ldncds.engine import Engine

    engine = Engine(matcher="durable")
    matcher = engine.matcher
    recorder = _Recorder(matcher)
    engine.matcher = recorder  # type: ignore[assignment]
    for facts in example_facts() + synthetic_facts(patients):
        engine.assess(facts, EVALUATION_DATE)
    engine.matcher = matcher
    out: dict[str, Any] = {"patients": len(recorder.calls) // 2, "phases": {}}
    for phase in ("findings", "conclusions"):
        # A patient fact with no field a test reads: every pattern refuses it, the sink takes it.
        lone = [{"kind": "patient", "id": "patient"}]
        assert matcher.sent(phase, lone), "the probe fact must reach the C core"
        setup = _median_us(lambda p=phase, probe=lone: matcher.run(p, probe), runs)
        calls = [facts for p, facts in recorder.calls if p == phase]
        sent = sum(len(matcher.sent(phase, facts)) for facts in calls) / len(calls)
        started = time.perf_counter_ns()
        for facts in calls:
            matcher.run(phase, facts)
        per_call = (time.perf_counter_ns() - started) / len(calls) / 1000
        out["phases"][phase] = {
            "rules": len(engine.ruleset.phase_rules(phase)),
            "session_setup_us": setup,
            "mean_call_us": round(per_call, 1),
            "facts_sent_mean": round(sent, 1),
            "per_fact_us": round(max(per_call - setup, 0.0) / max(sent, 1.0), 1),
        }
    phases = out["phases"].values()
    out["setup_us_per_patient"] = round(sum(p["session_setup_us"] for p in phases), 1)
    out["matching_us_per_patient"] = round(sum(p["mean_call_us"] for p in phases), 1)
    return out


def validation(patients: int, runs: int) -> dict[str, Any]:
    import orjson
    from pydantic import BaseModel, ConfigDict

    from ldncds.fhir import lean
    from ldncds.screening import generate_population

    class Floor(BaseModel):
        model_config = ConfigDict(extra="ignore")
        resourceType: str
        id: str | None = None

    with tempfile.TemporaryDirectory(prefix="ldncds-floors-") as tmp:
        generate_population(patients, Path(tmp), seed=3, on=EVALUATION_DATE)
        lines = [
            line for path in sorted(Path(tmp).glob("*.ndjson")) for line in path.read_bytes().splitlines()
        ]
    resources = [orjson.loads(line) for line in lines]
    repeat = max(1, runs // len(resources))

    def each(call: Callable[[Any], Any], items: Sequence[Any]) -> float:
        for item in items:
            call(item)
        started = time.perf_counter_ns()
        for _ in range(repeat):
            for item in items:
                call(item)
        return round((time.perf_counter_ns() - started) / (repeat * len(items)) / 1000, 2)

    return {
        "resources": len(resources),
        "resources_per_patient": round(len(resources) / patients, 1),
        "json_parse_us": each(orjson.loads, lines),
        "pydantic_floor_us": each(Floor.model_validate, resources),
        "lean_us": each(lean.parse, resources),
    }


# ---------------------------------------------------------------------------------------------- memory

_MEMORY_STEPS = """
import gc, json, sys
from datetime import date
from pathlib import Path

def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])

steps = [('Python interpreter', rss())]
import pydantic
steps.append(('pydantic', rss()))
import ldncds.engine
steps.append(('engine modules', rss()))
from ldncds.engine import Engine, load_ruleset
from ldncds.engine.assess import default_rules_dir
rules = load_ruleset(default_rules_dir())
gc.collect()
steps.append(('rules loaded (YAML, value sets)', rss()))
engine = Engine(rules)
gc.collect()
steps.append(('rules compiled into durable_rules', rss()))
import fhir_core.types
steps.append(("fhir_core primitive types (the lean models' dates, codes, ids)", rss()))
import ldncds.api.work, ldncds.api.engine_process
from ldncds.cdshooks.work import HookTask, patient_view
steps.append(('FHIR adapter, lean models, CDS Hooks and worker modules', rss()))
raw = Path(sys.argv[1]).read_bytes()
for _ in range(20):
    patient_view(engine, HookTask(raw, date(2026, 3, 1), 'http://localhost', None, 'lean', 'UTC'))
gc.collect()
steps.append(('after 20 patient-view requests', rss()))
print(json.dumps(steps))
"""


def memory_steps() -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_STEPS, str(HOOK_REQUEST)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=300,
    )
    steps = json.loads(done.stdout)
    out, previous = [], 0
    for name, kib in steps:
        out.append(
            {"step": name, "rss_mib": round(kib / 1024, 1), "added_mib": round((kib - previous) / 1024, 1)}
        )
        previous = kib
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    before = rss_kib()
    results = {
        "machine": machine(),
        "c_core": c_core(args.runs, args.patients),
        "validation": validation(args.patients, 20 * args.runs),
        "memory_steps": memory_steps(),
        "rss_kib_of_this_run": rss_kib() - before,
    }
    write_json(results, args.json_out)


if __name__ == "__main__":
    main()
