"""JSON API: POST /api/v1/assessments with native PatientFacts or a FHIR Bundle; stored before answering."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.engine import Engine
from ldncds.settings import Settings
from ldncds.store import open_store

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "tests" / "fixtures" / "fhir" / "chart_bundle.json"
URL = "/api/v1/assessments"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture
def store() -> Any:
    return open_store("sqlite://")


@pytest.fixture
def client(engine: Engine, store: Any) -> TestClient:
    return TestClient(create_app(Settings(), engine=engine, store=store))


def candidate() -> dict[str, Any]:
    return json.loads((ROOT / "examples" / "candidate.json").read_text())


def variant(decision: str) -> dict[str, Any]:
    facts = candidate()
    if decision == "contraindicated":
        facts["medications"].append(
            {
                "source": "MedicationRequest/oxy",
                "status": "active",
                "start": "2026-01-05",
                "codes": [{"system": "RxNorm", "code": "1049621"}],
            }
        )
    elif decision == "not_candidate":
        facts["birth_date"] = "2012-05-01"
    elif decision == "insufficient_information":
        facts.pop("allergies")
    elif decision == "candidate_with_cautions":
        facts["conditions"].append(
            {
                "source": "Condition/thy",
                "clinical_status": "active",
                "codes": [{"system": "ICD-10-CM", "code": "E06.3"}],
            }
        )
    return facts


@pytest.mark.parametrize(
    "decision",
    ["candidate", "candidate_with_cautions", "insufficient_information", "not_candidate", "contraindicated"],
)
def test_native_facts_give_the_full_assessment_stored_first(
    client: TestClient, store: Any, decision: str
) -> None:
    response = client.post(f"{URL}?evaluation_date=2026-03-01", json=variant(decision))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["decision"] == decision and body["evaluation_date"] == "2026-03-01"
    assert body["criteria"] and body["explanation"]["rule_id"]
    assert response.headers["location"] == f"{URL}/{body['assessment_id']}"
    stored = store.get(body["assessment_id"])
    assert stored is not None and stored.decision == decision and stored.caller.channel == "api"
    assert stored.assessment["assessment_id"] == body["assessment_id"]


def test_the_evaluation_date_defaults_to_today_utc(client: TestClient) -> None:
    body = client.post(URL, json=candidate()).json()
    assert body["evaluation_date"] == datetime.now(UTC).date().isoformat()


@pytest.mark.parametrize("content_type", ["application/fhir+json", "application/json"])
def test_a_fhir_bundle_is_mapped_then_assessed(client: TestClient, content_type: str) -> None:
    response = client.post(
        f"{URL}?evaluation_date=2026-03-01",
        content=CHART.read_bytes(),
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["decision"] in (
        "contraindicated",
        "not_candidate",
        "insufficient_information",
        "candidate_with_cautions",
        "candidate",
    )
    assert body["criteria"][0]["explanations"][0]["facts"][0]["source"].startswith("Patient/")


def test_a_malformed_bundle_resource_is_a_400_naming_its_path(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1980-02-30"}}],
    }
    response = client.post(URL, json=bundle)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["entry[0].resource.birthDate"]


@pytest.mark.parametrize(
    ("body", "query", "path"),
    [
        ({"conditions": [{"source": ""}]}, "", "conditions[0].source"),
        ({"birth_date": "1980-13"}, "", "birth_date"),
        ({"medications": [{"source": "m", "daily_dose_mg": -1}]}, "", "medications[0].daily_dose_mg"),
        ({"medications": [{"source": "m", "daily_dose_mg": 0}]}, "", "medications[0].daily_dose_mg"),
        ({"mystery": 1}, "", "mystery"),
        (candidate(), "?evaluation_date=2026-02-30", "evaluation_date"),
        ({"resourceType": "Bundle", "entry": "x"}, "", "entry"),
        ([1, 2], "", "body"),
    ],
)
def test_invalid_input_is_422_naming_the_field(client: TestClient, body: Any, query: str, path: str) -> None:
    response = client.post(URL + query, json=body)
    assert response.status_code == 422, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert path in [e for issue in outcome["issue"] for e in issue["expression"]]


def test_a_body_that_is_not_json_is_named(client: TestClient) -> None:
    response = client.post(URL, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["issue"][0]["expression"] == ["body"]


class ReadOnlyStore:
    """A store whose disk refuses writes: wraps the real one, fails on every append."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def record(self, **kwargs: Any) -> Any:
        raise OSError("disk full")

    def append(self, prepared: Any) -> Any:
        raise OSError("disk full")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_no_advice_when_the_assessment_cannot_be_stored(engine: Engine, store: Any) -> None:
    client = TestClient(create_app(Settings(), engine=engine, store=ReadOnlyStore(store)))
    response = client.post(URL, json=candidate())
    assert response.status_code == 503
    assert "decision" not in response.text and response.json()["resourceType"] == "OperationOutcome"
    card = client.post(
        "/cds-services/ldn-candidacy",
        json=json.loads((ROOT / "tests/fixtures/http/patient_view_candidate.json").read_text()),
    )
    assert card.status_code == 503 and "cards" not in card.json()


def test_no_advice_when_the_engine_fails(store: Any) -> None:
    class Broken(Engine):
        def assess(self, *args: Any, **kwargs: Any) -> Any:
            from ldncds.engine import EngineError

            raise EngineError("expected exactly one decision rule to fire, got 2")

    client = TestClient(create_app(Settings(), engine=Broken(), store=store))
    response = client.post(URL, json=candidate())
    assert response.status_code == 503 and "No advice" in response.json()["issue"][0]["diagnostics"]
    assert store.list() == []


def test_the_stored_assessment_is_readable_back(client: TestClient) -> None:
    created = client.post(f"{URL}?evaluation_date=2026-03-01", json=candidate()).json()
    response = client.get(f"{URL}/{created['assessment_id']}")
    assert response.status_code == 200
    assert created["assessment_id"] in response.text
