"""Gherkin steps of features/cds_hooks.feature: the HTTP contract, exercised through the real app.

Moved from tests/ so `ldncds scenarios` replays every feature file an auditor is given, against the
rules it is told to use (LDNCDS_RULES_DIR). The requests are the repository's fixtures
(tests/fixtures/http, or LDNCDS_HTTP_FIXTURES).
"""

from __future__ import annotations

import copy
import json
import os
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pytest_bdd import given, parsers, then, when

from ldncds.api.app import create_app
from ldncds.bdd.conformance import response_problems
from ldncds.bdd.steps import scenario_engine
from ldncds.settings import Settings
from ldncds.store import open_store

_REPO = Path(__file__).resolve().parents[3]
_FIXTURES = Path(os.environ.get("LDNCDS_HTTP_FIXTURES") or _REPO / "tests" / "fixtures" / "http")
_BASE = "https://cds.example.org"
_CANDIDACY = "/cds-services/ldn-candidacy"
_SIGN = "/cds-services/ldn-order-sign"


def _load(name: str) -> dict[str, Any]:
    return json.loads((_FIXTURES / name).read_text())


@pytest.fixture
def http_service() -> dict[str, Any]:
    """The running service (the scenarios' rules, a throw-away store) and what happened."""
    store = open_store("sqlite://")
    app = create_app(Settings(public_base_url=_BASE), engine=scenario_engine(), store=store)
    return {"client": TestClient(app), "store": store, "response": None}


def _send(http_service: dict[str, Any], path: str, body: dict[str, Any]) -> httpx.Response:
    http_service["response"] = http_service["client"].post(path, json=body)
    return http_service["response"]


def _the_cards(http_service: dict[str, Any]) -> list[dict[str, Any]]:
    response = http_service["response"]
    assert response.status_code == 200, response.text
    assert response_problems(response.json()) == []
    return response.json()["cards"]


def _the_card(http_service: dict[str, Any]) -> dict[str, Any]:
    [card] = _the_cards(http_service)
    return card


def _draft_order(rid: str, code: str, display: str, dose_mg: float | None = None) -> dict[str, Any]:
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
def http_running(http_service: dict[str, Any]) -> None:
    assert http_service["client"].get("/readyz").json()["ready"] is True


@given("the EHR has shown a candidate card")
def http_shown_candidate_card(http_service: dict[str, Any]) -> None:
    _send(http_service, _CANDIDACY, _load("patient_view_candidate.json"))
    assert _the_card(http_service)["extension"]["ldncds"]["decision"] == "candidate"
    http_service["shown"] = _the_card(http_service)


# ---------------------------------------------------------------------------------------------- when


@when("the EHR asks which services are offered")
def http_discover(http_service: dict[str, Any]) -> None:
    http_service["response"] = http_service["client"].get("/cds-services")


_CHARTS = {
    "a patient with fibromyalgia who has tried physical therapy, naproxen and duloxetine": (
        "patient_view_candidate.json"
    ),
    "a patient with fibromyalgia and an active tramadol prescription": (
        "patient_view_contraindicated_tramadol.json"
    ),
    "a patient whose only condition is hypertension": "patient_view_no_pain_condition.json",
}


_DEATH = re.compile(
    r"a patient with fibromyalgia whose record gives a date of death "
    r"(?P<n>\d+) days? (?P<side>ago|from today)"
)
_RECORDED = re.compile(
    r"a patient with fibromyalgia whose diagnosis was recorded "
    r"(?P<n>\d+) days? (?P<side>before|after) its onset"
)


@when(parsers.parse("the EHR opens the chart of {patient}"))
def http_open_chart(http_service: dict[str, Any], patient: str) -> None:
    if patient in _CHARTS:
        _send(http_service, _CANDIDACY, _load(_CHARTS[patient]))
        return
    body = _load("patient_view_candidate.json")
    if death := _DEATH.fullmatch(patient):
        days = int(death["n"]) * (-1 if death["side"] == "ago" else 1)
        today = Settings(public_base_url=_BASE).today()  # the service's evaluation date
        body["prefetch"]["patient"]["deceasedDateTime"] = (today + timedelta(days=days)).isoformat()
        _send(http_service, _CANDIDACY, body)
        return
    if recorded := _RECORDED.fullmatch(patient):
        [fibromyalgia] = [e["resource"] for e in body["prefetch"]["conditions"]["entry"]]
        days = int(recorded["n"]) * (-1 if recorded["side"] == "before" else 1)
        onset = date.fromisoformat(fibromyalgia["onsetDateTime"])
        fibromyalgia["recordedDate"] = (onset + timedelta(days=days)).isoformat()
        _send(http_service, _CANDIDACY, body)
        return
    missing = {
        "a patient with fibromyalgia but sends no conditions and no FHIR access": "conditions",
        "a patient with fibromyalgia but sends no allergy list": "allergies",
    }[patient]
    del body["prefetch"][missing]
    assert "fhirAuthorization" not in body
    _send(http_service, _CANDIDACY, body)


@when(parsers.parse('the EHR opens the chart described in "{request}"'))
def http_open_described_chart(http_service: dict[str, Any], request: str) -> None:
    _send(http_service, _CANDIDACY, _load(request))


@when("the clinician signs an oxycodone order for a patient taking naltrexone 4.5 mg a day")
def http_sign_opioid(http_service: dict[str, Any]) -> None:
    body = _load("order_sign_opioid_on_ldn.json")
    ldn = [e["resource"] for e in body["prefetch"]["medications"]["entry"] if e["resource"]["id"] == "mr-ldn"]
    assert ldn[0]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 4.5
    _send(http_service, _SIGN, body)


@when("the clinician signs a naltrexone order for a patient with an active tramadol prescription")
def http_sign_naltrexone(http_service: dict[str, Any]) -> None:
    body = copy.deepcopy(_load("patient_view_contraindicated_tramadol.json"))
    body["hook"] = "order-sign"
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": _draft_order("draft-ldn", "7243", "naltrexone", 1.5)}],
    }
    _send(http_service, _SIGN, body)


@when("the EHR reports twice that the clinician accepted the suggestion")
def http_accept_twice(http_service: dict[str, Any]) -> None:
    card = http_service["shown"]
    item = {
        "card": card["uuid"],
        "outcome": "accepted",
        "outcomeTimestamp": "2026-03-01T10:00:00Z",
        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
    }
    for _ in range(2):
        response = http_service["client"].post(f"{_CANDIDACY}/feedback", json={"feedback": [item]})
        assert response.status_code == 200


# ---------------------------------------------------------------------------------------------- then


@then(
    "ldn-candidacy is offered on patient-view, ldn-order-select on order-select "
    "and ldn-order-sign on order-sign"
)
def http_offered(http_service: dict[str, Any]) -> None:
    services = http_service["response"].json()["services"]
    assert {s["id"]: s["hook"] for s in services} == {
        "ldn-candidacy": "patient-view",
        "ldn-order-select": "order-select",
        "ldn-order-sign": "order-sign",
    }


@then(parsers.parse("ldn-candidacy asks for {types}"))
def http_asks_for(http_service: dict[str, Any], types: str) -> None:
    wanted = set(types.replace(" and ", ", ").split(", "))
    [candidacy] = [s for s in http_service["response"].json()["services"] if s["id"] == "ldn-candidacy"]
    assert {t.split("?")[0].split("/")[0] for t in candidacy["prefetch"].values()} == wanted


@then("the medication searches have no status filter, so recently stopped opioids are seen")
def http_no_status_filter(http_service: dict[str, Any]) -> None:
    for s in http_service["response"].json()["services"]:
        medication_searches = [t for t in s["prefetch"].values() if t.startswith("Medication")]
        assert medication_searches and not [t for t in medication_searches if "status" in t]


@then(parsers.parse('one {indicator} card says "{decision}"'))
def http_one_card(http_service: dict[str, Any], indicator: str, decision: str) -> None:
    card = _the_card(http_service)
    assert card["indicator"] == indicator
    assert card["summary"].startswith(f"Low-dose naltrexone: {decision}:")


@then("the card suggests a draft order for naltrexone 1.5 mg at bedtime")
def http_suggests_start(http_service: dict[str, Any]) -> None:
    card = _the_card(http_service)
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
def http_links_explanation(http_service: dict[str, Any]) -> None:
    card = _the_card(http_service)
    assert card["links"] == [
        {"label": "Why? Full explanation", "url": f"{_BASE}/assessments/{card['uuid']}", "type": "absolute"}
    ]
    assert http_service["store"].get(card["uuid"]).decision == card["extension"]["ldncds"]["decision"]
    # the HTML explanation page
    page = http_service["client"].get(card["links"][0]["url"].removeprefix(_BASE))
    assert page.status_code == 200 and card["uuid"] in page.text


@then(parsers.parse("the card cites rule {rule_id}"))
def http_cites_rule(http_service: dict[str, Any], rule_id: str) -> None:
    card = _the_card(http_service)
    assert card["source"]["url"] == f"{_BASE}/rulebook#rule-{rule_id}"
    stored = http_service["store"].get(card["uuid"])
    assert rule_id in stored.assessment["rules_fired"]


@then("a warning card names the tramadol prescription")
def http_warning_names_tramadol(http_service: dict[str, Any]) -> None:
    card = _the_card(http_service)
    assert card["indicator"] == "warning"
    assert "tramadol" in card["summary"] and "MedicationRequest/mr-tramadol" in card["detail"]


@then("the card offers no suggestion")
def http_no_suggestion(http_service: dict[str, Any]) -> None:
    card = _the_card(http_service)
    assert "suggestions" not in card and "selectionBehavior" not in card


@then("no card is returned")
def http_no_card(http_service: dict[str, Any]) -> None:
    assert _the_cards(http_service) == []


@then(parsers.re(r'the card notes "(?P<text>[^"]+)"'))
def http_card_notes(http_service: dict[str, Any], text: str) -> None:
    detail = _the_card(http_service)["detail"]
    assert text.lower() in detail.lower(), detail


@then(parsers.re(r'the card does not note "(?P<text>[^"]+)"'))
def http_card_does_not_note(http_service: dict[str, Any], text: str) -> None:
    detail = _the_card(http_service)["detail"]
    assert text.lower() not in detail.lower(), detail


@then(parsers.parse("the decision log shows rule {rule_id} fired"))
def http_logged_rule(http_service: dict[str, Any], rule_id: str) -> None:
    stored = http_service["store"].get(_the_card(http_service)["uuid"])
    assert rule_id in stored.assessment["rules_fired"], stored.assessment["rules_fired"]


@then("nothing is stored")
def http_nothing_stored(http_service: dict[str, Any]) -> None:
    assert http_service["store"].list() == []


@then(parsers.parse("the service answers 412 naming {path}"))
def http_answers_412(http_service: dict[str, Any], path: str) -> None:
    response = http_service["response"]
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["expression"] == [path]


@then("the card says the allergy list is missing")
def http_allergy_list_missing(http_service: dict[str, Any]) -> None:
    detail = _the_card(http_service)["detail"]
    assert "**Missing**" in detail and "allergy list" in detail


@then("a critical card names the oxycodone order and the naltrexone prescription")
def http_critical_opioid(http_service: dict[str, Any]) -> None:
    card = _the_card(http_service)
    assert card["indicator"] == "critical"
    assert "oxycodone" in card["summary"]
    assert "MedicationRequest/draft-oxy" in card["detail"] and "MedicationRequest/mr-ldn" in card["detail"]


@then("the card suggests cancelling the oxycodone order")
def http_suggests_cancel(http_service: dict[str, Any]) -> None:
    [action] = _the_card(http_service)["suggestions"][0]["actions"]
    assert (action["type"], action["resourceId"]) == ("delete", "MedicationRequest/draft-oxy")


@then("a critical card names the tramadol prescription")
def http_critical_tramadol(http_service: dict[str, Any]) -> None:
    card = _the_card(http_service)
    assert card["indicator"] == "critical"
    assert "tramadol" in card["summary"] and "MedicationRequest/mr-tramadol" in card["detail"]


@then(parsers.parse('the stored assessment has exactly one feedback item, "{outcome}"'))
def http_one_feedback(http_service: dict[str, Any], outcome: str) -> None:
    stored = http_service["store"].get(http_service["shown"]["uuid"])
    assert [f["outcome"] for f in stored.feedback] == [outcome]
