"""Issue 13 item 6: a decision log that was read-only for a while recovers by itself.

Connections SQLite opened while the file was read-only stay read-only; the store discards a
connection (and the idle pool) when a write fails, and /readyz tries to start a write transaction.
As root, file modes do not stop writes: the test uses the immutable attribute (chattr) there."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.engine import Engine
from ldncds.settings import Settings
from ldncds.store import open_store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "candidate.json"


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a file read-only")
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i not supported here: {done.stderr.decode().strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)


def assess(client: TestClient) -> int:
    response = client.post(
        "/api/v1/assessments?evaluation_date=2026-03-01",
        content=EXAMPLE.read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (201, 503), response.text
    assert response.status_code == 201 or "decision" not in response.json()  # never advice unrecorded
    return response.status_code


def test_after_the_log_was_read_only_every_later_request_succeeds(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    store = open_store(f"sqlite:///{db}")
    client = TestClient(create_app(Settings(data_dir=tmp_path), engine=Engine(), store=store))
    with ThreadPoolExecutor(8) as pool:  # fill the pool with several connections
        assert set(pool.map(lambda _: assess(client), range(16))) == {201}
    with read_only(db):
        store.engine.pool.dispose()  # new connections are opened while the file is read-only
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: assess(client), range(16)))
        for _ in range(8):  # reads open (read-only) connections that go back to the pool
            assert client.get("/api/v1/assessments?limit=1").status_code == 200
        assert set(statuses) == {503}
        assert client.get("/readyz").status_code == 503
        assert client.get("/readyz").json()["store"] is False
    assert client.get("/readyz").status_code == 200
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda _: assess(client), range(40))) == {201}
    assert store.verify().intact and store.count() == 56
