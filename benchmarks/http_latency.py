"""HTTP latency of a real `ldncds serve` on 127.0.0.1: patient-view next to /ping, at several concurrencies.

    .venv/bin/python benchmarks/http_latency.py [--requests 400] [--concurrency 1 20 50]

Starts the server as a subprocess on a free port (SQLite store in a temporary ./data), waits until it
is ready, warms it up, then sends each workload with asyncio + httpx (one connection per concurrent
client) and prints a markdown table. Every patient-view request runs the engine in a worker process
and commits its assessment to SQLite before the answer, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
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

import httpx

ROOT = Path(__file__).resolve().parents[1]
REQUEST = ROOT / "tests" / "fixtures" / "http" / "patient_view_candidate.json"


@dataclass
class Result:
    workload: str
    concurrency: int
    latencies_ms: list[float]
    errors: int
    seconds: float

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
            f"{n / self.seconds:.0f} | {self.errors} |"
        )


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
    if engine_processes:
        command += ["--engine-processes", str(engine_processes)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDNCDS_")} | {
        "LDNCDS_LOG_LEVEL": "WARNING"
    }
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


def patient_view_body() -> bytes:
    body = json.loads(REQUEST.read_text())
    body["hookInstance"] = str(uuid.uuid4())
    return json.dumps(body).encode()


async def one(client: httpx.AsyncClient, workload: str) -> float | None:
    start = time.perf_counter()
    if workload == "GET /ping":
        response = await client.get("/ping")
    else:
        response = await client.post(
            "/cds-services/ldn-candidacy",
            content=patient_view_body(),
            headers={"Content-Type": "application/json"},
        )
    elapsed = (time.perf_counter() - start) * 1000
    return elapsed if response.status_code == 200 else None


async def run(base: str, workload: str, concurrency: int, total: int) -> Result:
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
                    result = await one(client, workload)
                except httpx.HTTPError:
                    result = None
                if result is None:
                    errors += 1
                else:
                    latencies.append(result)

    start = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return Result(workload, concurrency, latencies, errors, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="Requests per workload and concurrency.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 20, 50])
    parser.add_argument("--engine-processes", type=int, default=None)
    args = parser.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="ldncds-bench-") as workdir:
        server = start_server(port, Path(workdir), args.engine_processes)
        try:
            wait_ready(base, server)
            asyncio.run(run(base, "POST patient-view", 4, 40))  # warm-up: imports, caches, SQLite pages
            asyncio.run(run(base, "GET /ping", 4, 40))
            results = [
                asyncio.run(run(base, workload, c, args.requests))
                for c in args.concurrency
                for workload in ("GET /ping", "POST patient-view")
            ]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    print(
        f"ldncds serve on 127.0.0.1, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{args.requests} requests per row, one keep-alive connection per client\n"
    )
    print("| workload | clients | requests | p50 ms | p99 ms | mean ms | req/s | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        print(result.row())


if __name__ == "__main__":
    main()
