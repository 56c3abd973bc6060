"""`ldncds serve`: starts with embedded defaults (SQLite in ./data); refuses an open unauthenticated bind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support.servers import clean_env, free_port

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "http" / "patient_view_candidate.json"
_SCRIPT = Path(sys.executable).parent / "ldncds"
LDNCDS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from ldncds.cli import app; app()"]


@pytest.mark.slow
def test_serve_starts_with_defaults_and_answers(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [*LDNCDS, "serve", "--port", str(port), "--engine-processes", "1"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        response = httpx.post(
            f"{base}/cds-services/ldn-candidacy", json=json.loads(FIXTURE.read_text()), timeout=30
        )
        assert response.status_code == 200
        assert response.json()["cards"][0]["extension"]["ldncds"]["decision"] == "candidate"
        assert (tmp_path / "data" / "ldncds.db").is_file()  # the default store, created on first start
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("msg") == "request"]
    assert [r["path"] for r in requests][-1] == "/cds-services/ldn-candidacy"
    assert requests[-1]["decision"] == "candidate" and "pt-1001" not in output
    assert any(line.get("msg") == "Application shutdown complete." for line in lines)


def test_serve_refuses_an_open_bind_without_issuers(tmp_path: Path) -> None:
    result = subprocess.run(
        [*LDNCDS, "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--insecure" in result.stderr
