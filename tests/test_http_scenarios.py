"""Step definitions for features/cds_hooks.feature: the HTTP contract, exercised through the real app."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pytest_bdd import given, parsers, scenarios, then, when

from cds_conformance import response_problems
from ldncds.api.app import create_app
from ldncds.engine import Engine
from ldncds.settings import Settings
from ldncds.store import open_store

scenarios("cds_hooks.feature")

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "http"
BASE = "https://cds.example.org"
CANDIDACY = "/cds-services/ldn-candidacy"
SIGN = "/cds-services/ldn-order-sign"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture
def service(engine: Engine) -> dict[str, Any]:
    """The running service and what happened: client, store, last response."""
    store = open_store("sqlite://")
    client = TestClient(create_app(Settings(public_base_url=BASE), engine=engine, store=store))
    return {"client": client, "store": store, "response": None}


def send(service: dict[str, Any], path: str, body: dict[str, Any]) -> httpx.Response:
    service["response"] = service["client"].post(path, json=body)
    return service["response"]


def the_cards(service: dict[str, Any]) -> list[dict[str, Any]]:
    response = service["response"]
    assert response.status_code == 200, response.text
    assert response_problems(response.json()) == []
    return response.json()["cards"]


def the_card(service: dict[str, Any]) -> dict[str, Any]:
    [card] = the_cards(service)
    return card


def draft_order(rid: str, code: str, display: str, dose_mg: float | None = None) -> dict[str, Any]:
    order: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/pt-1001"},
        "medicationCodeableConcept": {
            "coding": [
                {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code, "display": display}
            ],
            "text": display,
        },
    }
    if dose_mg is not None:
        order["dosageInstruction"] = [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": dose_mg, "unit": "mg"}}],
            }
        ]
    return order


# ---------------------------------------------------------------------------------------------- given


@given("the LDN decision support service is running")
def running(service: dict[str, Any]) -> None:
    assert service["client"].get("/readyz").json()["ready"] is True


@given("the EHR has shown a candidate card")
def shown_candidate_card(service: dict[str, Any]) -> None:
    send(service, CANDIDACY, load("patient_view_candidate.json"))
    assert the_card(service)["extension"]["ldncds"]["decision"] == "candidate"
    service["shown"] = the_card(service)


# ---------------------------------------------------------------------------------------------- when


@when("the EHR asks which services are offered")
def discover(service: dict[str, Any]) -> None:
    service["response"] = service["client"].get("/cds-services")


CHARTS = {
    "a patient with fibromyalgia who has tried physical therapy, naproxen and duloxetine": (
        "patient_view_candidate.json"
    ),
    "a patient with fibromyalgia and an active tramadol prescription": (
        "patient_view_contraindicated_tramadol.json"
    ),
    "a patient whose only condition is hypertension": "patient_view_no_pain_condition.json",
}


@when(parsers.parse("the EHR opens the chart of {patient}"))
def open_chart(service: dict[str, Any], patient: str) -> None:
    if patient in CHARTS:
        send(service, CANDIDACY, load(CHARTS[patient]))
        return
    body = load("patient_view_candidate.json")
    missing = {
        "a patient with fibromyalgia but sends no conditions and no FHIR access": "conditions",
        "a patient with fibromyalgia but sends no allergy list": "allergies",
    }[patient]
    del body["prefetch"][missing]
    assert "fhirAuthorization" not in body
    send(service, CANDIDACY, body)


@when(parsers.parse('the EHR opens the chart described in "{request}"'))
def open_described_chart(service: dict[str, Any], request: str) -> None:
    send(service, CANDIDACY, load(request))


@when("the clinician signs an oxycodone order for a patient taking naltrexone 4.5 mg a day")
def sign_opioid(service: dict[str, Any]) -> None:
    body = load("order_sign_opioid_on_ldn.json")
    ldn = [e["resource"] for e in body["prefetch"]["medications"]["entry"] if e["resource"]["id"] == "mr-ldn"]
    assert ldn[0]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 4.5
    send(service, SIGN, body)


@when("the clinician signs a naltrexone order for a patient with an active tramadol prescription")
def sign_naltrexone(service: dict[str, Any]) -> None:
    body = copy.deepcopy(load("patient_view_contraindicated_tramadol.json"))
    body["hook"] = "order-sign"
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": draft_order("draft-ldn", "7243", "naltrexone", 1.5)}],
    }
    send(service, SIGN, body)


@when("the EHR reports twice that the clinician accepted the suggestion")
def accept_twice(service: dict[str, Any]) -> None:
    card = service["shown"]
    item = {
        "card": card["uuid"],
        "outcome": "accepted",
        "outcomeTimestamp": "2026-03-01T10:00:00Z",
        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
    }
    for _ in range(2):
        response = service["client"].post(f"{CANDIDACY}/feedback", json={"feedback": [item]})
        assert response.status_code == 200


# ---------------------------------------------------------------------------------------------- then


@then(
    "ldn-candidacy is offered on patient-view, ldn-order-select on order-select "
    "and ldn-order-sign on order-sign"
)
def offered(service: dict[str, Any]) -> None:
    services = service["response"].json()["services"]
    assert {s["id"]: s["hook"] for s in services} == {
        "ldn-candidacy": "patient-view",
        "ldn-order-select": "order-select",
        "ldn-order-sign": "order-sign",
    }


@then(parsers.parse("ldn-candidacy asks for {types}"))
def asks_for(service: dict[str, Any], types: str) -> None:
    wanted = set(types.replace(" and ", ", ").split(", "))
    [candidacy] = [s for s in service["response"].json()["services"] if s["id"] == "ldn-candidacy"]
    assert {t.split("?")[0].split("/")[0] for t in candidacy["prefetch"].values()} == wanted


@then("the medication searches have no status filter, so recently stopped opioids are seen")
def no_status_filter(service: dict[str, Any]) -> None:
    for s in service["response"].json()["services"]:
        medication_searches = [t for t in s["prefetch"].values() if t.startswith("Medication")]
        assert medication_searches and not [t for t in medication_searches if "status" in t]


@then(parsers.parse('one {indicator} card says "{decision}"'))
def one_card(service: dict[str, Any], indicator: str, decision: str) -> None:
    card = the_card(service)
    assert card["indicator"] == indicator
    assert card["summary"].startswith(f"Low-dose naltrexone: {decision}:")


@then("the card suggests a draft order for naltrexone 1.5 mg at bedtime")
def suggests_start(service: dict[str, Any]) -> None:
    card = the_card(service)
    assert card["selectionBehavior"] == "at-most-one"
    [action] = card["suggestions"][0]["actions"]
    order = action["resource"]
    assert (action["type"], order["resourceType"], order["status"], order["intent"]) == (
        "create",
        "MedicationRequest",
        "draft",
        "proposal",
    )
    assert order["medicationCodeableConcept"]["coding"][0]["code"] == "7243"
    assert order["dosageInstruction"][0]["text"] == "1.5 mg by mouth at bedtime"


@then("the card links to the full explanation of its stored assessment")
def links_explanation(service: dict[str, Any]) -> None:
    card = the_card(service)
    assert card["links"] == [
        {"label": "Why? Full explanation", "url": f"{BASE}/assessments/{card['uuid']}", "type": "absolute"}
    ]
    assert service["store"].get(card["uuid"]).decision == card["extension"]["ldncds"]["decision"]
    page = service["client"].get(card["links"][0]["url"].removeprefix(BASE))  # the HTML explanation page
    assert page.status_code == 200 and card["uuid"] in page.text


@then(parsers.parse("the card cites rule {rule_id}"))
def cites_rule(service: dict[str, Any], rule_id: str) -> None:
    card = the_card(service)
    assert card["source"]["url"] == f"{BASE}/rulebook#rule-{rule_id}"
    stored = service["store"].get(card["uuid"])
    assert rule_id in stored.assessment["rules_fired"]


@then("a warning card names the tramadol prescription")
def warning_names_tramadol(service: dict[str, Any]) -> None:
    card = the_card(service)
    assert card["indicator"] == "warning"
    assert "tramadol" in card["summary"] and "MedicationRequest/mr-tramadol" in card["detail"]


@then("the card offers no suggestion")
def no_suggestion(service: dict[str, Any]) -> None:
    card = the_card(service)
    assert "suggestions" not in card and "selectionBehavior" not in card


@then("no card is returned")
def no_card(service: dict[str, Any]) -> None:
    assert the_cards(service) == []


@then("nothing is stored")
def nothing_stored(service: dict[str, Any]) -> None:
    assert service["store"].list() == []


@then(parsers.parse("the service answers 412 naming {path}"))
def answers_412(service: dict[str, Any], path: str) -> None:
    response = service["response"]
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["expression"] == [path]


@then("the card says the allergy list is missing")
def allergy_list_missing(service: dict[str, Any]) -> None:
    detail = the_card(service)["detail"]
    assert "**Missing**" in detail and "allergy list" in detail


@then("a critical card names the oxycodone order and the naltrexone prescription")
def critical_opioid(service: dict[str, Any]) -> None:
    card = the_card(service)
    assert card["indicator"] == "critical"
    assert "oxycodone" in card["summary"]
    assert "MedicationRequest/draft-oxy" in card["detail"] and "MedicationRequest/mr-ldn" in card["detail"]


@then("the card suggests cancelling the oxycodone order")
def suggests_cancel(service: dict[str, Any]) -> None:
    [action] = the_card(service)["suggestions"][0]["actions"]
    assert (action["type"], action["resourceId"]) == ("delete", "MedicationRequest/draft-oxy")


@then("a critical card names the tramadol prescription")
def critical_tramadol(service: dict[str, Any]) -> None:
    card = the_card(service)
    assert card["indicator"] == "critical"
    assert "tramadol" in card["summary"] and "MedicationRequest/mr-tramadol" in card["detail"]


@then(parsers.parse('the stored assessment has exactly one feedback item, "{outcome}"'))
def one_feedback(service: dict[str, Any], outcome: str) -> None:
    stored = service["store"].get(service["shown"]["uuid"])
    assert [f["outcome"] for f in stored.feedback] == [outcome]
