"""Response bodies serialised by orjson (in the work, where the engine runs) are the JSON the
previous code sent: Starlette's JSONResponse of the same content, built from what was stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.cdshooks.cards import decision_card
from ldncds.cdshooks.discovery import DISCOVERY
from ldncds.cdshooks.models import CardsResponse
from ldncds.engine import Assessment, Engine
from ldncds.settings import Settings
from ldncds.store import open_store

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "http").glob("*.json"))
BASE = "https://cds.example.org"


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(
        create_app(Settings(public_base_url=BASE), engine=Engine(), store=open_store("sqlite://"))
    )


def old_body(content: Any) -> bytes:
    return bytes(JSONResponse(content).body)


def same_json(new: bytes, old: bytes) -> bool:
    """Byte for byte, so the same values, key order and escapes (identical JSON would do; for
    these answers orjson and json.dumps also write numbers alike)."""
    return new == old


def stored(client: TestClient, assessment_id: str) -> Assessment:
    record = client.app.state.store.get(assessment_id)  # type: ignore[attr-defined]
    return Assessment.model_validate(record.assessment)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_every_fixture_answer_is_the_json_jsonresponse_sent(client: TestClient, fixture: Path) -> None:
    body = json.loads(fixture.read_text())
    response = client.post(
        f"/cds-services/{'ldn-order-sign' if 'order_sign' in fixture.name else 'ldn-candidacy'}", json=body
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert same_json(response.content, old_body(json.loads(response.content)))
    cards = response.json()["cards"]
    if body["hook"] != "patient-view" or not cards:
        return
    # The patient-view card as the previous route built it, from the assessment the log holds.
    assessment = stored(client, cards[0]["uuid"])
    card = decision_card(assessment, base_url=BASE, patient_id=body["context"]["patientId"])
    before = old_body(CardsResponse(cards=[card]).model_dump(mode="json", exclude_none=True))
    assert same_json(response.content, before)


@pytest.mark.parametrize(
    ("path", "bundle"),
    [
        (ROOT / "examples" / "candidate.json", False),
        (ROOT / "tests" / "fixtures" / "fhir" / "chart_bundle.json", True),
    ],
)
def test_the_assessment_answer_is_the_json_jsonresponse_sent(
    client: TestClient, path: Path, bundle: bool
) -> None:
    response = client.post(
        "/api/v1/assessments?evaluation_date=2026-03-01",
        content=path.read_bytes(),
        headers={"Content-Type": "application/fhir+json" if bundle else "application/json"},
    )
    assert response.status_code == 201 and response.headers["content-type"] == "application/json"
    assessment = stored(client, response.json()["assessment_id"])
    assert response.headers["location"] == f"/api/v1/assessments/{assessment.assessment_id}"
    assert same_json(response.content, old_body(assessment.model_dump(mode="json", exclude_none=True)))


def test_discovery_is_the_json_jsonresponse_sent(client: TestClient) -> None:
    response = client.get("/cds-services")
    assert same_json(response.content, old_body(DISCOVERY.model_dump(mode="json", exclude_none=True)))
