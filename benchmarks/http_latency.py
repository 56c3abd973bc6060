"""HTTP latency of a real `ldncds serve` on 127.0.0.1: patient-view next to /ping, at several concurrencies.

    .venv/bin/python benchmarks/http_latency.py [--requests 400] [--concurrency 1 20 50]
        [--engine-processes N] [--chart-resources 118]

Starts the server as a subprocess on a free port (SQLite store in a temporary ./data), waits until it
is ready, warms it up, then sends each workload with asyncio + httpx (one connection per concurrent
client) and prints a markdown table. Every patient-view request maps the chart, runs the engine and
builds the card in a worker process and commits its assessment to SQLite before the answer, as in
production (`--engine-processes 0`: all of it in the server process).

CPU per request is read from /proc for the server process and, apart, for its children (the engine
workers) while each row runs: the server process is GIL-bound, so its CPU per request bounds the
throughput of one server process. `--chart-resources N` adds a patient-view row with a large chart:
the patient of the repository's Synthea sample whose chart is closest to N resources.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
REQUEST = ROOT / "tests" / "fixtures" / "http" / "patient_view_candidate.json"
SYNTHEA = ROOT / "tests" / "fixtures" / "bulk" / "synthea-bulk-10"
# Synthea resource type -> (prefetch key, the patient reference field)
PREFETCH_OF = {
    "Condition": ("conditions", "subject"),
    "MedicationRequest": ("medications", "subject"),
    "Procedure": ("procedures", "subject"),
    "AllergyIntolerance": ("allergies", "patient"),
}
TICKS = os.sysconf("SC_CLK_TCK")
EXTRA_ENV: dict[str, str] = {}  # settings for the server under test (--setting NAME=VALUE)


@dataclass
class Result:
    workload: str
    concurrency: int
    latencies_ms: list[float]
    errors: int
    seconds: float
    server_cpu_s: float = float("nan")
    workers_cpu_s: float = float("nan")
    client_cpu_s: float = float("nan")  # this process: the load generator's own cost

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return (
            ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")
        )

    def row(self) -> str:
        n = len(self.latencies_ms)
        return (
            f"| {self.workload} | {self.concurrency} | {n} | {self.percentile(50):.1f} | "
            f"{self.percentile(99):.1f} | {statistics.fmean(self.latencies_ms):.1f} | "
            f"{n / self.seconds:.0f} | {self.errors} | {self.server_cpu_s * 1000 / max(1, n):.2f} | "
            f"{self.workers_cpu_s * 1000 / max(1, n):.2f} | {self.client_cpu_s * 1000 / max(1, n):.2f} |"
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 when it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15 of stat)


def rss_mib(pid: int, field: str = "VmRSS") -> float | None:
    """Resident memory (VmRSS, or RssAnon: the part no other process shares, i.e. not the pages of
    libpython, pydantic-core or OpenSSL) of a process, None when it has gone or is not ours."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    if "resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
        return None  # multiprocessing's resource tracker, not an engine worker
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith(f"{field}:")), None)
    return None if kib is None else kib / 1024


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return found


def cpu_snapshot(pid: int) -> tuple[float, dict[int, float]]:
    """(server CPU, CPU of each child): children are compared by pid, so a replaced worker counts
    only from when it started."""
    return cpu_seconds(pid), {child: cpu_seconds(child) for child in children(pid)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, workdir: Path, engine_processes: int | None) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).parent / "ldncds"
    command = (
        [str(script)] if script.exists() else [sys.executable, "-c", "from ldncds.cli import app; app()"]
    )
    command += ["serve", "--port", str(port)]
    if engine_processes is not None:
        command += ["--engine-processes", str(engine_processes)]
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith("LDNCDS_")}
        | dict(EXTRA_ENV)
        | {"LDNCDS_LOG_LEVEL": "WARNING"}
    )
    return subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready")


def patient_view_request() -> dict[str, Any]:
    return json.loads(REQUEST.read_text())


def synthea_chart_request(resources: int) -> tuple[dict[str, Any], int]:
    """A patient-view request whose prefetch is the chart of the Synthea sample patient closest to
    `resources` resources (Patient, conditions, medication requests, procedures, allergies)."""
    charts: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for path in sorted(SYNTHEA.glob("*.ndjson.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                resource = json.loads(line)
                kind = resource["resourceType"]
                if kind == "Patient":
                    charts.setdefault(resource["id"], {})["patient"] = [resource]
                elif kind in PREFETCH_OF:
                    key, field = PREFETCH_OF[kind]
                    patient = resource.get(field, {}).get("reference", "").rsplit("/", 1)[-1]
                    patient = patient.removeprefix("urn:uuid:")
                    charts.setdefault(patient, {}).setdefault(key, []).append(resource)
    sizes = {pid: sum(map(len, chart.values())) for pid, chart in charts.items() if "patient" in chart}
    chosen = min(sizes, key=lambda pid: (abs(sizes[pid] - resources), pid))
    chart = charts[chosen]
    prefetch: dict[str, Any] = {"patient": chart["patient"][0]}
    for key, _ in PREFETCH_OF.values():
        entries = [{"resource": r} for r in chart.get(key, [])]
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    body = patient_view_request()
    body["context"]["patientId"] = chart["patient"][0]["id"]
    body["prefetch"] = prefetch
    return body, sizes[chosen]


def hook_body(request: dict[str, Any]) -> bytes:
    return json.dumps(request | {"hookInstance": str(uuid.uuid4())}).encode()


async def one(client: httpx.AsyncClient, workload: str, request: dict[str, Any] | None) -> float | None:
    start = time.perf_counter()
    if request is None:
        response = await client.get("/ping")
    else:
        response = await client.post(
            "/cds-services/ldn-candidacy",
            content=hook_body(request),
            headers={"Content-Type": "application/json"},
        )
    elapsed = (time.perf_counter() - start) * 1000
    return elapsed if response.status_code == 200 else None


async def run(
    base: str, workload: str, request: dict[str, Any] | None, concurrency: int, total: int
) -> Result:
    latencies: list[float] = []
    errors = 0
    remaining = total

    async def client_loop() -> None:
        nonlocal remaining, errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
            while remaining > 0:
                remaining -= 1
                try:
                    result = await one(client, workload, request)
                except httpx.HTTPError:
                    result = None
                if result is None:
                    errors += 1
                else:
                    latencies.append(result)

    start = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return Result(workload, concurrency, latencies, errors, time.perf_counter() - start)


class RawClient:
    """A minimal keep-alive HTTP/1.1 client on one asyncio socket: a fraction of httpx's CPU per
    request, so the numbers show the server rather than the load generator. It sends exactly the
    request httpx sends (method, path, JSON body) and reads the status line, the headers and a
    Content-Length body (the server always sends one)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawClient:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.writer is not None:
            self.writer.close()

    async def request(self, method: str, path: str, body: bytes = b"") -> int:
        assert self.reader is not None and self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        headers = await self.reader.readuntil(b"\r\n\r\n")
        status = int(headers[9:12])
        length = 0
        for line in headers.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


async def run_raw(
    base: str, workload: str, request: dict[str, Any] | None, concurrency: int, total: int
) -> Result:
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = 0
    remaining = total

    async def client_loop() -> None:
        nonlocal remaining, errors
        async with RawClient(host, int(port)) as client:
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                if request is None:
                    status = await client.request("GET", "/ping")
                else:
                    status = await client.request("POST", "/cds-services/ldn-candidacy", hook_body(request))
                if status == 200:
                    latencies.append((time.perf_counter() - start) * 1000)
                else:
                    errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return Result(workload, concurrency, latencies, errors, time.perf_counter() - start)


def measured(
    server: int,
    base: str,
    workload: str,
    request: dict[str, Any] | None,
    c: int,
    n: int,
    client: str = "httpx",
) -> Result:
    before, workers_before = cpu_snapshot(server)
    client_before = time.process_time()
    result = asyncio.run((run_raw if client == "raw" else run)(base, workload, request, c, n))
    result.client_cpu_s = time.process_time() - client_before
    after, workers_after = cpu_snapshot(server)
    result.workload = f"{result.workload} ({client})"
    result.server_cpu_s = after - before
    result.workers_cpu_s = sum(cpu - workers_before.get(pid, 0.0) for pid, cpu in workers_after.items())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="Requests per workload and concurrency.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 20, 50])
    parser.add_argument(
        "--engine-processes", type=int, default=None, help="0: evaluate in the server process."
    )
    parser.add_argument(
        "--chart-resources", type=int, default=None, help="Add a row: a Synthea chart of ~N resources."
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="A setting of the server under test, e.g. store_group_commit_max=16 (repeatable).",
    )
    parser.add_argument(
        "--client",
        nargs="+",
        choices=["httpx", "raw"],
        default=["httpx", "raw"],
        help="Load generators: httpx (one AsyncClient per client) and a raw keep-alive socket client.",
    )
    args = parser.parse_args()
    for setting in args.setting:
        name, _, value = setting.partition("=")
        EXTRA_ENV[f"LDNCDS_{name.upper()}"] = value

    workloads: list[tuple[str, dict[str, Any] | None]] = [
        ("GET /ping", None),
        ("POST patient-view", patient_view_request()),
    ]
    if args.chart_resources:
        chart, size = synthea_chart_request(args.chart_resources)
        workloads.append((f"POST patient-view, {size}-resource chart", chart))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="ldncds-bench-") as workdir:
        server = start_server(port, Path(workdir), args.engine_processes)
        try:
            wait_ready(base, server)
            for name, request in workloads:  # warm-up: imports, caches, SQLite pages
                asyncio.run(run(base, name, request, 4, 40))
            results = [
                measured(server.pid, base, name, request, c, args.requests, client)
                for client in args.client
                for c in args.concurrency
                for name, request in workloads
            ]
            pids = [p for p in sorted(children(server.pid)) if rss_mib(p) is not None]
            memory = {"server": (rss_mib(server.pid), rss_mib(server.pid, "RssAnon"))} | {
                f"engine worker {i}": (rss_mib(p), rss_mib(p, "RssAnon")) for i, p in enumerate(pids, 1)
            }
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    print(
        f"ldncds serve on 127.0.0.1, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{args.requests} requests per row, one keep-alive connection per client; CPU ms per request "
        "of the server process and of its engine workers (user + system, from /proc)\n"
    )
    print(
        "| workload | clients | requests | p50 ms | p99 ms | mean ms | req/s | errors "
        "| server CPU ms/req | workers CPU ms/req | client CPU ms/req |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        print(result.row())
    print("\n| process (after the runs) | RSS MiB | of it private (RssAnon) MiB |\n|---|---|---|")
    for name, (mib, private) in memory.items():
        if mib is not None:
            print(f"| {name} | {mib:.1f} | {private or 0:.1f} |")


if __name__ == "__main__":
    main()
