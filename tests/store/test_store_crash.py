"""An acknowledged assessment is never lost: SIGKILL `ldncds serve` in the middle of a stream of requests.

Every assessment whose 201 response reached the client must be in the decision log afterwards, and
the log must still verify. Runs against the real service (uvicorn, engine worker processes) on
127.0.0.1 only; bounded in requests and time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.store import open_store
from support.servers import free_port
from support.store import store_url  # noqa: F401

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LDNCDS = Path(sys.executable).with_name("ldncds")
THREADS = 4
MAX_REQUESTS_PER_THREAD = 150
KILL_AFTER_ACKNOWLEDGED = 24


def _wait_ready(base: str, proc: subprocess.Popen, log: Path, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ldncds serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("ldncds serve did not become ready")


class Client(threading.Thread):
    """Posts assessments until the server disappears; keeps the ids of acknowledged ones."""

    def __init__(self, base: str, bodies: list[bytes], acknowledged: list[str], lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        self.base, self.bodies, self.acknowledged, self.lock = base, bodies, acknowledged, lock
        self.errors: list[str] = []

    def run(self) -> None:
        with httpx.Client(timeout=10.0) as http:
            for i in range(MAX_REQUESTS_PER_THREAD):
                try:
                    r = http.post(
                        f"{self.base}/api/v1/assessments",
                        params={"evaluation_date": "2026-03-01"},
                        content=self.bodies[i % len(self.bodies)],
                        headers={"content-type": "application/json"},
                    )
                except httpx.HTTPError:
                    return  # the server is gone: this request was never acknowledged
                if r.status_code != 201:
                    self.errors.append(f"{r.status_code}: {r.text[:200]}")
                    return
                with self.lock:
                    self.acknowledged.append(r.json()["assessment_id"])


@pytest.mark.slow
def test_sigkill_mid_stream_loses_no_acknowledged_assessment(store_url: str, tmp_path: Path) -> None:  # noqa: F811
    if not LDNCDS.exists():
        pytest.skip(f"{LDNCDS} not installed")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDNCDS_")}
    env |= {
        "LDNCDS_DATA_DIR": str(tmp_path / "data"),
        "LDNCDS_DATABASE_URL": store_url,
        "LDNCDS_LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(LDNCDS), "serve", "--host", "127.0.0.1", "--port", str(port), "--engine-processes", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    acknowledged: list[str] = []
    try:
        _wait_ready(base, proc, log)
        bodies = [p.read_bytes() for p in sorted(EXAMPLES.glob("*.json"))]
        lock = threading.Lock()
        clients = [Client(base, bodies, acknowledged, lock) for _ in range(THREADS)]
        for c in clients:
            c.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < KILL_AFTER_ACKNOWLEDGED and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the server and its engine workers, mid-stream
        proc.wait(timeout=10)
        for c in clients:
            c.join(timeout=15)
        assert not any(c.is_alive() for c in clients)
        assert not [e for c in clients for e in c.errors]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    assert len(acknowledged) >= KILL_AFTER_ACKNOWLEDGED
    assert len(set(acknowledged)) == len(acknowledged)
    store = open_store(store_url)
    try:
        missing = [i for i in acknowledged if store.get(i) is None]
        assert missing == [], f"{len(missing)} acknowledged assessments lost"
        assert store.count() >= len(acknowledged)
    finally:
        store.close()
    result = CliRunner().invoke(app, ["audit", "verify", "--database-url", store_url])
    assert result.exit_code == 0, result.output
    assert "intact:" in result.output
