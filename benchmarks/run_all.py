"""Run every benchmark, one after the other on this machine, and write docs/benchmarks.md.

    .venv/bin/python benchmarks/run_all.py [--patients 5000] [--memory-total 100000]

Each benchmark runs in its own Python process (so one cannot warm or pollute another), in sequence
(so they do not compete for cores). benchmarks/http_latency.py (written with the HTTP API) is run
too when present, and its standard output (a Markdown table) is included as is. The prose of the
report is benchmarks/report_template.md; the numbers are filled in from this run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, machine, speed_probe

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "report_template.md"


def _run(script: str, args: list[str], timeout: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    print(f"running {script} {' '.join(args)}", file=sys.stderr, flush=True)
    command = [sys.executable, str(HERE / script), *args, "--json", str(out)]
    subprocess.run(command, check=True, timeout=timeout, cwd=ROOT)
    data = json.loads(out.read_text())
    out.unlink()
    return data


def _http(timeout: float) -> str:
    script = HERE / "http_latency.py"
    if not script.is_file():
        return "_benchmarks/http_latency.py is not present yet: no HTTP numbers in this run._"
    print("running http_latency.py", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(
            [sys.executable, str(script), "--chart-resources", "118"],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return f"_benchmarks/http_latency.py did not finish within {timeout:.0f} s._"
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        return f"_benchmarks/http_latency.py failed (exit {done.returncode}):_\n\n```\n{tail}\n```"
    return done.stdout.strip()


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _machine_table(before: dict[str, Any], after: dict[str, Any]) -> str:
    loads = f"{before['load_average']} / {after['load_average']}"
    return table(
        ["", ""],
        [
            ["CPU", before["cpu"]],
            ["cores", f"{before['cores']} ({before['usable_cores']} usable)"],
            ["Python", before["python"]],
            ["platform", before["platform"]],
            ["date", before["date"]],
            ["load average (1/5/15 min), before / after", loads],
            [
                "speed probe (`_common.speed_probe`: fixed pure-Python work, CPU ms), before / after",
                f"{before['speed_probe_ms']} / {after['speed_probe_ms']}",
            ],
        ],
    )


def _engine_values(e: dict[str, Any]) -> dict[str, Any]:
    t = e["typical"]
    rows = []
    for key, label in (("durable", "durable_rules engine"), ("oracle", "plain-Python oracle")):
        r = t[key]
        matching = f"{r['matching_mean_us']} ({100 * r['share_of_assess']:.0f}%)"
        rows.append([f'{label} (`matcher="{key}"`)', r["median_us"], r["p99_us"], r["mean_us"], matching])
    d = t["derive"]
    rows.append(
        ["`derive` alone (PatientFacts -> engine facts)", d["median_us"], d["p99_us"], d["mean_us"], "-"]
    )
    large = e.get("large_records")
    large_text = ""
    if large:
        large_text = (
            f"Very large real-shaped records (the Synthea sample: {large['patients']} patients, "
            f"{large['facts_per_patient_mean']} facts each): "
            f"durable median {large['durable']['median_us']} µs "
            f"(p99 {large['durable']['p99_us']}), oracle median {large['oracle']['median_us']} µs "
            f"(p99 {large['oracle']['p99_us']})."
        )
    header = ["", "median µs", "p99 µs", "mean µs", "rule matching, mean µs (share)"]
    return {
        "engine_runs": t["durable"]["runs"],
        "engine_warmup": e["warmup"],
        "engine_patients": e["typical_patients"],
        "engine_facts": e["facts_per_patient_mean"],
        "ruleset": e["ruleset"],
        "engine_table": table(header, rows),
        "large_records": large_text,
        "durable_median": t["durable"]["median_us"],
        "oracle_median": t["oracle"]["median_us"],
        "derive_median": d["median_us"],
        "oracle_vs": "above" if t["oracle"]["median_us"] > t["durable"]["median_us"] else "below",
    }


def _screening_values(s: dict[str, Any]) -> dict[str, Any]:
    pop = s["population"]
    types = ", ".join(f"{n} {t}" for t, n in pop["by_type"].items())
    rows = []
    for r in s["runs"]:
        cpu = f"{1000 * r['cpu_seconds'] / r['patients']:.2f}" if r.get("cpu_seconds") else "-"
        cores = r.get("cores_used", "-")
        label = f"{r['backend']}, {r['workers']} worker{'s' if r['workers'] > 1 else ''}, {r['matcher']}"
        rows.append(
            [
                label,
                r.get("load_at_start", "-"),
                r["patients"],
                r["seconds"],
                r["index_seconds"],
                r["patients_per_second"],
                r.get("steady_patients_per_second") or "-",
                cpu,
                cores,
            ]
        )
    header = [
        "run",
        "load",
        "patients",
        "wall s",
        "index + set-up s",
        "patients/s (wall)",
        "patients/s (steady)",
        "CPU ms/patient",
        "cores obtained",
    ]
    decisions = {json.dumps(r["decisions"], sort_keys=True) for r in s["runs"]}
    if len(decisions) != 1:
        raise SystemExit("screening runs disagree on decisions: the benchmark is invalid")
    stages = s["stages"]
    stage_rows = [
        [name, v["ms_per_patient"], f"{100 * v['share']:.1f}%"] for name, v in stages["stages"].items()
    ]
    return {
        "population": f"{pop['patients']} synthetic patients, {pop['resources']} resources ({types}), "
        f"{pop['bytes'] / 1e6:.1f} MB of NDJSON",
        "decisions": ", ".join(f"{k} {v}" for k, v in s["runs"][0]["decisions"].items()),
        "screening_table": table(header, rows),
        "stage_patients": stages["patients"],
        "stage_total_ms": stages["ms_per_patient_total"],
        "stage_table": table(["stage", "ms per patient", "share"], stage_rows),
        "resources_per_patient": pop["resources"] / pop["patients"],
    }


def _stage_values(s: dict[str, Any], resources_per_patient: float) -> dict[str, Any]:
    st = s["stages"]["stages"]

    def pick(prefix: str) -> dict[str, float]:
        return next(v for k, v in st.items() if k.startswith(prefix))

    share = {
        p: 100 * pick(p)["share"]
        for p in (
            "index pass",
            "read lines",
            "JSON parse",
            "FHIR validation",
            "FHIR -> PatientFacts",
            "derive",
            "rule matching",
            "assembling",
        )
    }
    ms = {p: pick(p)["ms_per_patient"] for p in share}
    per_core = 1000 / s["stages"]["ms_per_patient_total"]
    return {
        "share_validation": f"{share['FHIR validation']:.0f}",
        "ms_validation": ms["FHIR validation"],
        "us_per_resource": f"{1000 * ms['FHIR validation'] / resources_per_patient:.0f}",
        "share_mapping": f"{share['FHIR -> PatientFacts']:.0f}",
        "share_engine": f"{share['derive'] + share['rule matching'] + share['assembling']:.0f}",
        "share_derive": f"{share['derive']:.0f}",
        "share_matching": f"{share['rule matching']:.0f}",
        "ms_matching": ms["rule matching"],
        "share_assembling": f"{share['assembling']:.0f}",
        "share_ours": f"{share['index pass'] + share['read lines'] + share['JSON parse']:.0f}",
        "ms_double_parse": f"{ms['index pass'] + ms['JSON parse']:.2f}",
        "ms_engine": f"{ms['derive'] + ms['rule matching'] + ms['assembling']:.2f}",
        "per_core": f"{per_core:.0f}",
        "two_cores": f"{2 * per_core:.0f}",
    }


def _memory_values(m: dict[str, Any]) -> dict[str, Any]:
    rows = [[f"{s['assessments']:,}", f"{s['rss_kib'] / 1024:.1f}", s["seconds"]] for s in m["samples"]]
    return {
        "memory_mix": m["mix"],
        "memory_before_mib": f"{m['rss_kib_before'] / 1024:.1f}",
        "memory_table": table(["assessments", "RSS MiB", "elapsed s"], rows),
        "memory_first": f"{m['samples'][0]['assessments']:,}",
        "memory_total": f"{m['samples'][-1]['assessments']:,}",
        "memory_growth": m["growth_percent"],
    }


def _targets(e: dict[str, Any], s: dict[str, Any], m: dict[str, Any], http: str) -> dict[str, Any]:
    def verdict(met: bool) -> str:
        return "met" if met else "**missed**"

    median_ms = e["typical"]["durable"]["median_us"] / 1000
    runs = {(r["backend"], r["workers"], r["matcher"]): r for r in s["runs"]}
    one, floor = runs[("local", 1, "durable")], runs[("local", 1, "oracle")]
    ratio = one["cpu_seconds"] / floor["cpu_seconds"]  # CPU, not wall: robust to a busy machine
    best = max((r for r in s["runs"] if r["matcher"] == "durable"), key=lambda r: r["patients_per_second"])
    pool = max(
        (r for r in s["runs"] if r["backend"] == "local" and r["workers"] > 1), key=lambda r: r["workers"]
    )
    projected = pool["workers"] * pool["patients"] / pool["cpu_seconds"]
    rows = [
        ["engine median < 1 ms per typical assessment", f"{median_ms:.2f} ms", verdict(median_ms < 1.0)],
        [
            "bulk screening within 5x of the plain-Python floor (1 core)",
            f"{ratio:.2f}x (CPU per patient, durable / oracle, one worker each)",
            verdict(ratio <= 5.0),
        ],
        [
            "screening ≥ 500 patients/s on this 2-core machine",
            f"{best['patients_per_second']} patients/s measured ({best['backend']}, {best['workers']} "
            f"worker{'s' if best['workers'] > 1 else ''}, {best['cores_used']} cores obtained); "
            f"projected on {pool['workers']} dedicated cores: about {projected:.0f}/s from the pool run's "
            f"CPU time, {pool['workers'] * 1000 / s['stages']['ms_per_patient_total']:.0f}/s from the "
            "one-core stage timing",
            verdict(best["patients_per_second"] >= 500),
        ],
        [
            "memory flat (< 10% growth) from 1,000 to 100,000 assessments",
            f"{m['growth_percent']}% "
            f"({m['samples'][0]['assessments']:,} -> {m['samples'][-1]['assessments']:,} assessments)",
            verdict(m["growth_percent"] < 10),
        ],
    ]
    rows += _lean_path_targets(s, m, http)
    return {
        "targets_table": table(["target", "measured", ""], rows),
        "floor_ratio": f"{ratio:.2f}",
        "projected": f"{projected:.0f}",
    }


def _http_rows(http: str) -> dict[tuple[str, int], dict[str, str]]:
    """The rows of http_latency.py's Markdown table, keyed by (workload, clients)."""
    lines = [line for line in http.splitlines() if line.startswith("|")]
    if len(lines) < 3:
        return {}
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows: dict[tuple[str, int], dict[str, str]] = {}
    for line in lines[2:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=False))
        if cells.get("clients", "").isdigit():
            rows[(cells["workload"], int(cells["clients"]))] = cells
    return rows


def _http_targets(http_rows: dict[tuple[str, int], dict[str, str]], client: str) -> list[list[Any]]:
    """The HTTP targets at 20 clients, with one load generator (httpx, or the raw socket client)."""
    view = http_rows.get((f"POST patient-view ({client})", 20))
    ping = http_rows.get((f"GET /ping ({client})", 20))
    if not (view and ping):
        return []
    server, p99 = float(view["server CPU ms/req"]), float(view["p99 ms"])
    ratio = float(view["req/s"]) / float(ping["req/s"])
    return [
        [
            f"server CPU ≤ 1.8 ms per patient-view request (20 {client} clients)",
            f"{server} ms",
            _verdict(server <= 1.8),
        ],
        [
            f"patient-view ≥ 50% of /ping throughput (20 {client} clients)",
            f"{100 * ratio:.0f}% ({view['req/s']} / {ping['req/s']} req/s)",
            _verdict(ratio >= 0.5),
        ],
        [f"patient-view p99 ≤ 100 ms (20 {client} clients)", f"{p99} ms", _verdict(p99 <= 100)],
    ]


def _chart_and_worker_targets(http_rows: dict[tuple[str, int], dict[str, str]], http: str) -> list[list[Any]]:
    """The large chart's CPU per request (one raw client: server + engine workers) and worker RSS."""
    rows: list[list[Any]] = []
    chart = next(
        (cells for (name, clients), cells in http_rows.items() if clients == 1 and "chart (raw)" in name),
        None,
    )
    if chart is not None:
        server, workers = float(chart["server CPU ms/req"]), float(chart["workers CPU ms/req"])
        rows.append(
            [
                f"{chart['workload'].removeprefix('POST patient-view, ')}: ≤ 4 ms total CPU per request",
                f"{server + workers:.1f} ms (server {server}, engine workers {workers})",
                _verdict(server + workers <= 4),
            ]
        )
    sizes = [
        float(line.strip("|").split("|")[1])
        for line in http.splitlines()
        if line.startswith("| engine worker ")
    ]
    if sizes:
        rows.append(
            [
                f"engine worker RSS ≤ 55 MB ({WORKER_RSS_TARGET_MIB:.1f} MiB)",
                f"{max(sizes):.1f} MiB = {max(sizes) * MIB / 1e6:.1f} MB (largest of {len(sizes)})",
                _verdict(max(sizes) <= WORKER_RSS_TARGET_MIB),
            ]
        )
    return rows


MIB = 2**20
WORKER_RSS_TARGET_MIB = 55e6 / MIB  # the 55 MB, in the MiB that /proc reports


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def _lean_path_targets(s: dict[str, Any], m: dict[str, Any], http: str) -> list[list[Any]]:
    """The targets of the lean-path work (issue 15), where this run measured them."""

    verdict = _verdict
    rows: list[list[Any]] = []
    http_rows = _http_rows(http)
    for client in ("httpx", "raw"):
        rows += _http_targets(http_rows, client)
    rows += _chart_and_worker_targets(http_rows, http)
    two = [
        r for r in s["runs"] if r["backend"] == "local" and r["workers"] == 2 and r["matcher"] == "durable"
    ]
    if two:
        rate = max(r.get("steady_patients_per_second") or r["patients_per_second"] for r in two)
        rows.append(
            ["screening ≥ 1,500 patients/s on 2 workers (steady)", f"{rate}/s", verdict(rate >= 1500)]
        )
        dask = [r for r in s["runs"] if r["backend"] == "dask"]
        if dask:
            local = max(r["patients_per_second"] for r in two)
            gap = 1 - max(r["patients_per_second"] for r in dask) / local
            rows.append(
                ["Dask within 20% of the local runner", f"{100 * gap:.0f}% slower", verdict(gap <= 0.2)]
            )
    rows.append(
        [
            "memory growth < 5% from 1,000 to 100,000 assessments",
            f"{m['growth_percent']}% ({m['samples'][0]['assessments']:,} -> "
            f"{m['samples'][-1]['assessments']:,} assessments)",
            verdict(m["growth_percent"] < 5),
        ]
    )
    return rows


def _floor_values(f: dict[str, Any], s: dict[str, Any], http: str) -> dict[str, Any]:
    """The fixed costs (benchmarks/floors.py) set against each missed target's budget."""
    core, val = f["c_core"], f["validation"]
    c_rows = [
        [
            phase,
            p["rules"],
            p["session_setup_us"],
            p["facts_sent_mean"],
            p["per_fact_us"],
            p["mean_call_us"],
        ]
        for phase, p in core["phases"].items()
    ]
    per_fact_total = sum(p["per_fact_us"] * p["facts_sent_mean"] for p in core["phases"].values())
    setup_ms = core["setup_us_per_patient"] / 1000
    resource_ms = (val["pydantic_floor_us"] + val["json_parse_us"]) / 1000

    def row(target: str, budget: float, fixed: float, today: float | None, unit: str = "ms") -> list[Any]:
        left = budget - fixed
        rest = "-" if today is None else f"{today - fixed:.2f} {unit} (of {today:.2f})"
        return [target, f"{budget:.2f} {unit}", f"{fixed:.2f} {unit}", f"{left:.2f} {unit}", rest]

    patient_fixed = setup_ms + per_fact_total / 1000 + resource_ms * val["resources_per_patient"]
    rows = [
        row(
            "screening ≥ 1,500 patients/s on 2 workers: CPU per patient",
            2 * 1000 / 1500,
            patient_fixed,
            s["stages"]["ms_per_patient_total"],
        )
    ]
    http_rows = _http_rows(http)
    chart = next((c for (n, k), c in http_rows.items() if k == 1 and "chart (raw)" in n), None)
    if chart is not None:
        resources = int(chart["workload"].split(", ")[1].split("-")[0])
        today = float(chart["server CPU ms/req"]) + float(chart["workers CPU ms/req"])
        rows.append(row(f"{resources}-resource chart ≤ 4 ms", 4.0, setup_ms + resource_ms * resources, today))
    view, ping = http_rows.get(("POST patient-view (raw)", 20)), http_rows.get(("GET /ping (raw)", 20))
    if view and ping:
        budget = 2 * 1000 / (0.5 * float(ping["req/s"]))  # two cores, half of /ping's rate
        cpu = sum(float(view[k]) for k in ("server CPU ms/req", "workers CPU ms/req", "client CPU ms/req"))
        fixed = setup_ms + per_fact_total / 1000
        rows.append(
            row("patient-view ≥ 50% of /ping (20 raw clients): all CPU per request", budget, fixed, cpu)
        )
    steps = f["memory_steps"]
    compiled = next(st["rss_mib"] for st in steps if st["step"].startswith("rules compiled"))
    rows.append(
        row(
            f"engine worker RSS ≤ 55 MB ({WORKER_RSS_TARGET_MIB:.1f} MiB)",
            WORKER_RSS_TARGET_MIB,
            compiled,
            steps[-1]["rss_mib"],
            "MiB",
        )
    )
    memory_rows = [[st["step"], st["rss_mib"], f"+{st['added_mib']}"] for st in steps]
    return {
        "floors_c_table": table(
            ["phase", "rules", "session set-up µs", "facts sent", "µs per fact", "mean call µs"], c_rows
        ),
        "floors_setup_us": core["setup_us_per_patient"],
        "floors_matching_us": core["matching_us_per_patient"],
        "floors_setup_share": f"{100 * core['setup_us_per_patient'] / core['matching_us_per_patient']:.0f}",
        "floors_resources": val["resources"],
        "floors_json_us": val["json_parse_us"],
        "floors_pydantic_us": val["pydantic_floor_us"],
        "floors_lean_us": val["lean_us"],
        "floors_budget_table": table(
            ["target", "budget", "fixed cost measured", "left for the rest", "the rest today"], rows
        ),
        "floors_memory_table": table(["step (fresh worker-like process)", "RSS MiB", "added"], memory_rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--engine-runs", type=int, default=5000)
    parser.add_argument("--memory-total", type=int, default=100_000)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--raw", default=str(HERE / "results.json"), help="all measurements as JSON")
    args = parser.parse_args()
    before = machine() | {"speed_probe_ms": speed_probe()}
    started = time.perf_counter()
    engine = _run("engine.py", ["--runs", str(args.engine_runs)], timeout=1800)
    http = _http(timeout=1800)
    dask = ["--skip-dask"] if args.skip_dask else []
    screening = _run("screening.py", ["--patients", str(args.patients), *dask], timeout=3600)
    memory = _run("memory.py", ["--total", str(args.memory_total)], timeout=3600)
    floors = _run("floors.py", [], timeout=1800)
    after = machine() | {"speed_probe_ms": speed_probe()}
    values: dict[str, Any] = {
        "arguments": f"--patients {args.patients} --engine-runs {args.engine_runs} "
        f"--memory-total {args.memory_total}{' --skip-dask' if args.skip_dask else ''}",
        "run_minutes": f"{(time.perf_counter() - started) / 60:.0f}",
        "machine_table": _machine_table(before, after),
        "http": http,
    }
    values |= _engine_values(engine) | _screening_values(screening) | _memory_values(memory)
    values |= _stage_values(screening, values["resources_per_patient"]) | _targets(
        engine, screening, memory, http
    )
    values |= _floor_values(floors, screening, http)
    Path(args.out).write_text(TEMPLATE.read_text(encoding="utf-8").format(**values), encoding="utf-8")
    raw = {
        "machine_before": before,
        "machine_after": after,
        "engine": engine,
        "screening": screening,
        "memory": memory,
        "floors": floors,
        "http": http,
    }
    Path(args.raw).write_text(json.dumps(raw, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out} and {args.raw}", file=sys.stderr)


if __name__ == "__main__":
    main()
