"""GET /api/v1/assessments[/{id}]: stored assessments over HTTP, 404 for unknown ids, 422 for bad filters."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from ldncds.engine import Engine, PatientFacts
from ldncds.store import Caller, SqlStore, open_store, record_assessment
from ldncds.store.routes import router
from support.store import sqlite_url

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture
def store(tmp_path: Path, engine: Engine) -> SqlStore:
    store = open_store(sqlite_url(tmp_path))
    days = {
        "candidate.json": date(2026, 3, 1),
        "contraindicated_buprenorphine.json": date(2026, 3, 5),
        "not_candidate_axial_back_pain.json": date(2026, 4, 1),
    }
    caller = Caller(channel="api", issuer="iss-1")
    for name, on in days.items():
        facts = PatientFacts.model_validate_json((EXAMPLES / name).read_bytes())
        record_assessment(store, facts, engine.assess(facts, on), b"{}", caller, engine.ruleset.content_hash)
    return store


def _app(store: SqlStore | None, dependencies: list | None = None) -> TestClient:
    app = FastAPI()
    app.state.store = store
    app.include_router(router, dependencies=dependencies or [])
    return TestClient(app)


def test_get_one_assessment(store: SqlStore) -> None:
    stored = store.list(decision="contraindicated")[0]
    store.add_feedback(stored.id, {"card": stored.id, "outcome": "overridden", "outcomeTimestamp": "t"})
    response = _app(store).get(f"/api/v1/assessments/{stored.id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == stored.id and body["seq"] == stored.seq
    assert body["decision"] == "contraindicated" and body["evaluation_date"] == "2026-03-05"
    assert body["caller"] == {
        "channel": "api",
        "service_id": None,
        "hook_instance": None,
        "issuer": "iss-1",
        "tenant": None,
    }
    assert body["assessment"]["assessment_id"] == stored.id
    assert body["assessment"]["hard_stops"]
    assert body["feedback"] == [{"card": stored.id, "outcome": "overridden", "outcomeTimestamp": "t"}]
    assert "facts" not in body  # patient facts are for auditors with the database, not for every API client


def test_unknown_id_is_404(store: SqlStore) -> None:
    response = _app(store).get("/api/v1/assessments/does-not-exist")
    assert response.status_code == 404
    assert _app(store).get("/api/v1/assessments/" + "x" * 65).status_code == 422
    assert _app(store).get("/api/v1/assessments/a%00b").status_code == 422


def test_list_with_filters(store: SqlStore) -> None:
    client = _app(store)
    everything = client.get("/api/v1/assessments").json()
    assert [i["decision"] for i in everything["items"]] == ["not_candidate", "contraindicated", "candidate"]
    assert everything["limit"] == 100 and everything["offset"] == 0
    only = client.get("/api/v1/assessments", params={"decision": "candidate"}).json()["items"]
    assert [i["decision"] for i in only] == ["candidate"]
    march = client.get("/api/v1/assessments", params={"date_from": "2026-03-02", "date_to": "2026-03-31"})
    assert [i["evaluation_date"] for i in march.json()["items"]] == ["2026-03-05"]
    page = client.get("/api/v1/assessments", params={"limit": 1, "offset": 2}).json()["items"]
    assert [i["decision"] for i in page] == ["candidate"]
    version = store.list()[0].ruleset_version
    assert len(client.get("/api/v1/assessments", params={"ruleset_version": version}).json()["items"]) == 3
    assert client.get("/api/v1/assessments", params={"ruleset_version": "x"}).json()["items"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"decision": "maybe"}, "decision"),
        ({"date_from": "2026-13-01"}, "date_from"),
        ({"date_to": "yesterday"}, "date_to"),
        ({"limit": 0}, "limit"),
        ({"limit": 5000}, "limit"),
        ({"offset": -1}, "offset"),
        ({"date_from": "2026-04-01", "date_to": "2026-03-01"}, "date_from"),
        ({"ruleset_version": "1.0\x00"}, "ruleset_version"),
    ],
)
def test_bad_filters_are_422_naming_the_field(store: SqlStore, params: dict, field: str) -> None:
    response = _app(store).get("/api/v1/assessments", params=params)
    assert response.status_code == 422
    assert field in response.text


def test_the_app_supplies_authentication(store: SqlStore) -> None:
    def deny(request: Request) -> None:
        raise HTTPException(status_code=401)

    client = _app(store, dependencies=[Depends(deny)])
    assert client.get("/api/v1/assessments").status_code == 401
    assert client.get(f"/api/v1/assessments/{store.list()[0].id}").status_code == 401


def test_no_store_configured_is_503() -> None:
    assert _app(None).get("/api/v1/assessments").status_code == 503
