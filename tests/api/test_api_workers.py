"""Engine worker processes: a killed or hung worker costs at most one request, never the service."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.engine import Engine
from ldncds.settings import Settings
from ldncds.store import open_store

pytestmark = pytest.mark.slow  # starts engine processes (about a second each)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "http"
SERVICE = "/cds-services/ldn-candidacy"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def wait_until_dead(pid: int) -> None:
    """Until the kernel has ended the process (a zombie until its parent reaps it); bounded."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not die")


@pytest.fixture(scope="module")
def pooled() -> Iterator[TestClient]:
    settings = Settings(engine_processes=1, engine_timeout_seconds=2.0)
    with TestClient(create_app(settings, store=open_store("sqlite://"))) as client:  # lifespan stops the pool
        yield client


@pytest.fixture(scope="module")
def in_process() -> TestClient:
    return TestClient(create_app(Settings(), engine=Engine(), store=open_store("sqlite://")))


def pool(client: TestClient) -> Any:
    return client.app.state.engine.pool  # type: ignore[attr-defined]


def decision(response: Any) -> str:
    assert response.status_code == 200, response.text
    return response.json()["cards"][0]["extension"]["ldncds"]["decision"]


@pytest.mark.parametrize(
    "fixture",
    [
        "patient_view_candidate.json",
        "patient_view_contraindicated_tramadol.json",
        "patient_view_insufficient_no_pt.json",
        "patient_view_cautions_thyroid.json",
        "patient_view_not_candidate_minor.json",
    ],
)
def test_workers_decide_as_the_in_process_engine(
    pooled: TestClient, in_process: TestClient, fixture: str
) -> None:
    body = load(fixture)
    assert decision(pooled.post(SERVICE, json=body)) == decision(in_process.post(SERVICE, json=body))


def test_a_killed_idle_worker_is_replaced_before_the_next_request(pooled: TestClient) -> None:
    [pid] = pool(pooled).pids()
    restarts = pool(pooled).restarts
    os.kill(pid, signal.SIGKILL)
    wait_until_dead(pid)
    assert decision(pooled.post(SERVICE, json=load("patient_view_candidate.json"))) == "candidate"
    assert pool(pooled).pids() != [pid] and pool(pooled).restarts == restarts + 1
    assert "ldncds_engine_worker_restarts " + f"{restarts + 1:.1f}" in pooled.get("/metrics").text


def test_a_hung_worker_costs_one_request_with_no_advice(pooled: TestClient) -> None:
    [pid] = pool(pooled).pids()
    os.kill(pid, signal.SIGSTOP)  # stands in for an engine stuck in its C core
    try:
        response = pooled.post(SERVICE, json=load("patient_view_candidate.json"))
    finally:
        with contextlib.suppress(ProcessLookupError):  # normally the pool has killed it already
            os.kill(pid, signal.SIGKILL)
    assert response.status_code == 503
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and "No advice" in outcome["issue"][0]["diagnostics"]
    assert decision(pooled.post(SERVICE, json=load("patient_view_candidate.json"))) == "candidate"
    assert pid not in pool(pooled).pids()


def test_readiness_reports_the_worker_engine(pooled: TestClient) -> None:
    body = pooled.get("/readyz").json()
    assert body == {"ready": True, "engine": True, "store": True, "ruleset_version": body["ruleset_version"]}
