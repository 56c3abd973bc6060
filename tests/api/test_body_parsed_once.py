"""A JSON body is parsed once per request: the guard's value reaches FastAPI's body validation,
unless the guard cannot vouch that it is `json.loads`' value (then FastAPI parses the bytes)."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path
from typing import Any

import pytest
import starlette.requests
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from ldncds.api.app import create_app
from ldncds.api.guard import UNREAD, Limits, Refused, check_json
from ldncds.engine import Engine
from ldncds.settings import Settings
from ldncds.store import open_store

ROOT = Path(__file__).resolve().parents[2]
PATIENT_VIEW = ROOT / "tests" / "fixtures" / "http" / "patient_view_candidate.json"
LIMITS = Limits(10_000_000, 64, 1_000_000, 10_000)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture
def client(engine: Engine) -> TestClient:
    settings_ = Settings(public_base_url="https://cds.example.org")
    return TestClient(create_app(settings_, engine=engine, store=open_store("sqlite://")))


@pytest.fixture
def starlette_parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bodies Starlette's Request.json() parsed itself (the parse FastAPI's validation uses)."""
    parsed: list[bytes] = []

    def loads(raw: Any) -> Any:
        parsed.append(raw)
        return json.loads(raw)

    monkeypatch.setattr(starlette.requests, "json", types.SimpleNamespace(loads=loads))
    return parsed


@pytest.mark.parametrize("media", ["application/json", "application/fhir+json", "application/json+fhir"])
def test_a_patient_view_body_is_not_parsed_again_by_the_route(
    client: TestClient, starlette_parses: list[bytes], media: str
) -> None:
    response = client.post(
        "/cds-services/ldn-candidacy", content=PATIENT_VIEW.read_bytes(), headers={"content-type": media}
    )
    assert response.status_code == 200, response.text
    assert response.json()["cards"][0]["indicator"] == "info"
    assert starlette_parses == []


def test_a_json_api_body_is_not_parsed_again_by_the_route(
    client: TestClient, starlette_parses: list[bytes]
) -> None:
    body = (ROOT / "examples" / "candidate.json").read_bytes()
    response = client.post("/api/v1/assessments", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["decision"] == "candidate"
    assert starlette_parses == []


def test_a_body_with_an_integer_beyond_64_bits_is_parsed_by_the_route(
    client: TestClient, starlette_parses: list[bytes]
) -> None:
    """orjson would read 10**20 as a float: the guard leaves such a body to json.loads."""
    request = json.loads(PATIENT_VIEW.read_text())
    request["extension"] = {"big": 10**20}
    raw = json.dumps(request).encode()
    response = client.post(
        "/cds-services/ldn-candidacy", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert starlette_parses == [raw]


def test_an_unparseable_body_is_named_by_the_route(client: TestClient) -> None:
    response = client.post(
        "/cds-services/ldn-candidacy", content=b'{"hook": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.text or "json" in response.text


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 64 bits too
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(document=documents)
def test_the_guards_value_is_json_loads_value_or_unread(document: Any) -> None:
    body = json.dumps(document).encode()
    try:
        value = check_json(body, LIMITS)
    except Refused:  # NaN or Infinity: refused, never handed on
        assert re.search(rb"NaN|Infinity", body)
        return
    if value is UNREAD:  # only a long digit run (a possible integer beyond 64 bits) makes it step back
        assert re.search(rb"[0-9]{19}", body)
        return
    expected = json.loads(body)
    assert json.dumps(value) == json.dumps(expected)
    assert _types(value) == _types(expected)


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


def test_a_long_digit_run_in_a_string_does_not_make_the_route_parse_again(
    client: TestClient, starlette_parses: list[bytes]
) -> None:
    """Synthea narratives quote 19-digit seeds: only an integer beyond 64 bits needs json.loads."""
    request = json.loads(PATIENT_VIEW.read_text())
    request["extension"] = {"note": "Person seed: -6684078290682807749"}
    raw = json.dumps(request).encode()
    response = client.post(
        "/cds-services/ldn-candidacy", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert starlette_parses == []
