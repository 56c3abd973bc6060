"""Patient-view and order-sign for a patient already on LDN (issue 6): due/overdue, response, alerts."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.bdd.conformance import response_problems
from ldncds.engine import Engine
from ldncds.settings import Settings
from ldncds.store import open_store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "http"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
TODAY = datetime.now(UTC).date()


def _day(weeks_ago: float) -> str:
    return (TODAY - timedelta(days=round(weeks_ago * 7))).isoformat()


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "fullUrl": f"https://ehr.example.org/fhir/r4/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": "match"},
    }


def _naltrexone(rid: str, mg: float, start_weeks: float, end_weeks: float | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "active" if end_weeks is None else "completed",
        "intent": "order",
        "subject": {"reference": "Patient/pt-1001"},
        "authoredOn": _day(start_weeks),
        "medicationCodeableConcept": {
            "coding": [{"system": RX, "code": "7243", "display": "naltrexone"}],
            "text": f"naltrexone {mg:g} mg (compounded)",
        },
        "dosageInstruction": [
            {
                "text": f"{mg:g} mg at bedtime",
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": mg,
                            "unit": "mg",
                            "system": "http://unitsofmeasure.org",
                            "code": "mg",
                        }
                    }
                ],
            }
        ],
    }
    if end_weeks is not None:
        resource["dispenseRequest"] = {"validityPeriod": {"start": _day(start_weeks), "end": _day(end_weeks)}}
    return resource


def _pain(rid: str, value: float, weeks_ago: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/pt-1001"},
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "72514-3", "display": "Pain severity 0-10"}]
        },
        "effectiveDateTime": _day(weeks_ago),
        "valueInteger": value,
    }


def on_ldn_request(*, extra_meds: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body = copy.deepcopy(json.loads((FIXTURES / "patient_view_candidate.json").read_text()))
    meds = body["prefetch"]["medications"]
    meds["entry"] += [
        _entry(_naltrexone("mr-ldn-15", 1.5, 20, 18)),
        _entry(_naltrexone("mr-ldn-45", 4.5, 18)),
    ]
    meds["entry"] += [_entry(m) for m in extra_meds or []]
    meds["total"] = len(meds["entry"])
    obs = [_pain("obs-pain-0", 7, 21), _pain("obs-pain-12", 4, 7)]
    body["prefetch"]["observations"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(obs),
        "entry": [_entry(o) for o in obs],
    }
    return body


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(
        create_app(
            Settings(public_base_url="https://cds.example.org"),
            engine=Engine(),
            store=open_store("sqlite://"),
        )
    )


def test_patient_view_on_therapy_shows_response_and_what_is_overdue(client: TestClient) -> None:
    response = client.post("/cds-services/ldn-candidacy", json=on_ldn_request())
    assert response.status_code == 200, response.text
    body = response.json()
    assert response_problems(body) == []
    [card] = body["cards"]
    assert card["extension"]["ldncds"]["decision"] == "on_therapy"
    assert card["summary"].startswith("Low-dose naltrexone: On LDN 4.5 mg/day")
    assert "responder" in card["summary"]
    assert "Response: **responder**" in card["detail"]
    assert "OVERDUE by" in card["detail"] and "week 4-6" in card["detail"].lower()
    assert card["indicator"] == "warning"  # an overdue reminder
    assert "suggestions" not in card  # no "start LDN" order for a patient already on it


def test_patient_view_opioid_while_on_ldn_is_critical(client: TestClient) -> None:
    oxycodone = {
        "resourceType": "MedicationRequest",
        "id": "mr-oxy",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/pt-1001"},
        "authoredOn": _day(0.3),
        "medicationCodeableConcept": {
            "coding": [
                {"system": RX, "code": "1049621", "display": "oxycodone hydrochloride 5 MG Oral Tablet"}
            ]
        },
    }
    response = client.post("/cds-services/ldn-candidacy", json=on_ldn_request(extra_meds=[oxycodone]))
    [card] = response.json()["cards"]
    assert card["indicator"] == "critical"
    assert "oxycodone" in card["detail"] and "MedicationRequest/mr-oxy" in card["detail"]


def test_order_sign_of_an_opioid_for_a_patient_on_ldn_is_critical(client: TestClient) -> None:
    body = json.loads((FIXTURES / "order_sign_opioid_on_ldn.json").read_text())
    response = client.post("/cds-services/ldn-order-sign", json=body)
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert any(c["indicator"] == "critical" for c in cards)
