"""Request ids: X-Request-ID or the hookInstance, echoed, and on every log line of that request."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.api.observability import JsonFormatter
from ldncds.engine import Engine
from ldncds.settings import Settings
from ldncds.store import open_store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "http"


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Settings(), engine=Engine(), store=open_store("sqlite://")))


@contextmanager
def captured() -> Iterator[list[dict[str, Any]]]:
    """Every ldncds line logged inside the block, formatted as in production (filled at exit)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ldncds")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        lines += [json.loads(line) for line in stream.getvalue().splitlines()]


def _body(name: str = "patient_view_candidate.json") -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def test_the_callers_request_id_is_echoed_and_logged(client: TestClient) -> None:
    with captured() as lines:
        response = client.post(
            "/cds-services/ldn-candidacy", json=_body(), headers={"X-Request-ID": "ehr-req-7f3a"}
        )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "ehr-req-7f3a"
    [line] = [line for line in lines if line["msg"] == "request"]
    assert line["request_id"] == "ehr-req-7f3a" and line["hookInstance"] == _body()["hookInstance"]


def test_every_line_of_a_request_carries_its_id() -> None:
    """Lines logged inside a route (run in a worker thread like the real ones) and the request line."""
    app = create_app(Settings(), engine=Engine(), store=open_store("sqlite://"))

    @app.get("/probe")
    def probe() -> dict[str, str]:
        logging.getLogger("ldncds.probe").info("inside the route")
        return {}

    with TestClient(app) as client, captured() as lines:
        first = client.get("/probe", headers={"X-Request-ID": "abc-123"})
        second = client.get("/probe")
    ids = [line.get("request_id") for line in lines if line["msg"] in ("inside the route", "request")]
    generated = second.headers["x-request-id"]
    assert first.headers["x-request-id"] == "abc-123"
    assert ids == ["abc-123", "abc-123", generated, generated]
    assert len(generated) == 32 and generated != "abc-123"


def test_the_hook_instance_is_the_request_id_when_no_header_is_sent(client: TestClient) -> None:
    body = _body()
    response = client.post("/cds-services/ldn-candidacy", json=body)
    assert response.headers["x-request-id"] == body["hookInstance"]


@pytest.mark.parametrize("bad", ["has space", "x" * 200, "<script>", "pt-1 Doe, Ada"])
def test_a_malformed_request_id_is_replaced_not_echoed(client: TestClient, bad: str) -> None:
    response = client.get("/ping", headers={"X-Request-ID": bad})
    assert response.status_code == 200
    assert response.headers["x-request-id"] != bad and len(response.headers["x-request-id"]) == 32


def test_an_exception_is_logged_by_type_only() -> None:
    try:
        raise ValueError("patient Doe-Secret")
    except ValueError:
        record = logging.LogRecord("ldncds", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["error"] == "ValueError"
    assert "Doe-Secret" not in json.dumps(line) and "Traceback" not in json.dumps(line)
