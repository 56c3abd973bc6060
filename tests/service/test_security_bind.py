"""Issue 13 item 4: the app itself refuses to serve unauthenticated beyond loopback, whatever starts it
(here: plain `uvicorn ... --factory --host 0.0.0.0`, which never reads LDNCDS_HOST)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ldncds.api.app import create_app
from ldncds.engine import Engine
from ldncds.settings import Settings, TrustedIssuer
from ldncds.store import open_store
from support.servers import free_port, source_env
from support.tokens import JWKS

UVICORN = [sys.executable, "-m", "uvicorn", "ldncds.api.app:serve_app", "--factory"]


def uvicorn_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return source_env(LDNCDS_ENGINE_PROCESSES="1", LDNCDS_DATA_DIR=str(tmp_path), **extra)


@pytest.mark.slow
def test_uvicorn_factory_on_all_interfaces_without_issuers_stops_itself(tmp_path: Path) -> None:
    server = subprocess.run(
        [*UVICORN, "--host", "0.0.0.0", "--port", str(free_port())],
        env=uvicorn_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert server.returncode != 0
    assert "refusing to serve without trusted issuers" in server.stderr


@pytest.mark.slow
def test_uvicorn_workers_on_all_interfaces_without_issuers_do_not_start(tmp_path: Path) -> None:
    # The supervisor binds the socket before the workers start the app: start-up itself fails.
    server = subprocess.run(
        [*UVICORN, "--host", "0.0.0.0", "--port", str(free_port()), "--workers", "2"],
        env=uvicorn_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "refusing to serve without trusted issuers" in server.stderr
    assert "Application startup failed" in server.stderr


@pytest.mark.slow
def test_uvicorn_factory_on_loopback_without_issuers_serves(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [*UVICORN, "--host", "127.0.0.1", "--port", str(port)], env=uvicorn_env(tmp_path), cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert server.poll() is None
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        time.sleep(6)  # past the socket watch
        assert server.poll() is None
        assert httpx.get(f"http://127.0.0.1:{port}/ping", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(30)


def asgi_get(app: object, host: str, path: str = "/healthz") -> int:
    """A request as it arrives on the interface `host` (the ASGI scope's server address)."""

    async def get() -> int:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}:8000") as client:
            return (await client.get(path)).status_code

    return asyncio.run(get())


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def test_without_issuers_only_requests_arriving_on_loopback_are_served(engine: Engine) -> None:
    app = create_app(Settings(), engine=engine, store=open_store("sqlite://"))
    assert asgi_get(app, "127.0.0.1") == 200
    assert asgi_get(app, "[::1]") == 200
    for host in ("192.0.2.2", "[fd00::2]", "10.1.2.3"):
        assert asgi_get(app, host) == 403, host
        assert asgi_get(app, host, "/api/v1/assessments") == 403, host


def test_insecure_or_trusted_issuers_open_the_network(engine: Engine) -> None:
    insecure = create_app(
        Settings(host="0.0.0.0", insecure=True), engine=engine, store=open_store("sqlite://")
    )
    assert asgi_get(insecure, "192.0.2.2") == 200
    issuers = [TrustedIssuer(iss="https://ehr.example.org", jwks=JWKS)]
    secured = create_app(Settings(trusted_issuers=issuers), engine=engine, store=open_store("sqlite://"))
    assert asgi_get(secured, "192.0.2.2") == 200  # /healthz is open; the API still needs a JWT
    assert asgi_get(secured, "192.0.2.2", "/api/v1/assessments") == 401
