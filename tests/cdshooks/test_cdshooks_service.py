"""CDS Hooks over HTTP (in-process engine): discovery, patient-view, order checks and feedback."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.bdd.conformance import empty_values, response_problems
from ldncds.engine import Engine
from ldncds.settings import Settings
from ldncds.store import open_store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "http"
BASE = "https://cds.example.org"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture
def store() -> Any:
    return open_store("sqlite://")


@pytest.fixture
def client(engine: Engine, store: Any) -> TestClient:
    return TestClient(create_app(Settings(public_base_url=BASE), engine=engine, store=store))


def hook(client: TestClient, service: str, body: dict[str, Any]) -> Any:
    return client.post(f"/cds-services/{service}", json=body)


def cards_of(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert response_problems(body) == []
    return body["cards"]


# ---------------------------------------------------------------------------------------------- discovery


def test_discovery_offers_three_services_with_prefetch(client: TestClient) -> None:
    body = client.get("/cds-services").json()
    assert empty_values(body) == []
    services = {s["id"]: s for s in body["services"]}
    assert {i: s["hook"] for i, s in services.items()} == {
        "ldn-candidacy": "patient-view",
        "ldn-order-select": "order-select",
        "ldn-order-sign": "order-sign",
    }
    templates = services["ldn-candidacy"]["prefetch"]
    read = {t.split("?")[0].split("/")[0] for t in templates.values()}
    assert read == {
        "Patient",
        "Condition",
        "MedicationRequest",
        "MedicationStatement",
        "MedicationDispense",
        "MedicationAdministration",
        "Procedure",
        "ServiceRequest",
        "Appointment",
        "AllergyIntolerance",
        "Observation",
    }
    for key in ("medications", "medicationStatements"):  # washout needs stopped opioids: no status filter
        assert "status" not in templates[key] and "_include=" in templates[key]
    assert all(s["description"] and s["title"] for s in services.values())


# ---------------------------------------------------------------------------------------------- patient-view


@pytest.mark.parametrize(
    ("fixture", "decision", "indicator"),
    [
        ("patient_view_candidate.json", "candidate", "info"),
        ("patient_view_cautions_thyroid.json", "candidate_with_cautions", "warning"),
        ("patient_view_insufficient_no_pt.json", "insufficient_information", "info"),
        ("patient_view_not_candidate_minor.json", "not_candidate", "info"),
        ("patient_view_contraindicated_tramadol.json", "contraindicated", "warning"),
    ],
)
def test_patient_view_gives_one_card_per_decision(
    client: TestClient, store: Any, fixture: str, decision: str, indicator: str
) -> None:
    body = load(fixture)
    [card] = cards_of(hook(client, "ldn-candidacy", body))
    assert (card["indicator"], card["extension"]["ldncds"]["decision"]) == (indicator, decision)
    stored = store.get(card["uuid"])  # stored before the answer, under the card's uuid
    assert stored is not None and stored.decision == decision
    assert stored.caller.channel == "cds-hooks" and stored.caller.hook_instance == body["hookInstance"]
    assert stored.assessment["assessment_id"] == card["uuid"] == card["extension"]["ldncds"]["assessment_id"]
    assert card["links"][0]["url"] == f"{BASE}/assessments/{card['uuid']}"
    assert ("suggestions" in card) is decision.startswith("candidate")


def test_contraindicated_card_names_the_tramadol_prescription(client: TestClient) -> None:
    [card] = cards_of(hook(client, "ldn-candidacy", load("patient_view_contraindicated_tramadol.json")))
    assert "tramadol" in card["summary"]
    assert "MedicationRequest/mr-tramadol" in card["detail"]
    assert card["source"]["url"] == f"{BASE}/rulebook#rule-CONTRA-OPIOID-01"


@pytest.mark.parametrize("user", ["Patient/pt-1001", "RelatedPerson/rp-1"])
def test_patient_portal_users_get_no_cards(client: TestClient, store: Any, user: str) -> None:
    body = load("patient_view_candidate.json")
    body["context"]["userId"] = user
    assert cards_of(hook(client, "ldn-candidacy", body)) == []
    assert store.list() == []


def test_no_card_without_an_in_scope_pain_condition(client: TestClient, store: Any) -> None:
    assert cards_of(hook(client, "ldn-candidacy", load("patient_view_no_pain_condition.json"))) == []
    assert store.list() == []


def test_no_card_for_a_deceased_patient(client: TestClient) -> None:
    body = load("patient_view_candidate.json")
    body["prefetch"]["patient"]["deceasedDateTime"] = "2025-01-01"
    assert cards_of(hook(client, "ldn-candidacy", body)) == []


@pytest.mark.parametrize("key", ["patient", "conditions", "medications"])
def test_412_when_required_data_is_neither_prefetched_nor_fetchable(client: TestClient, key: str) -> None:
    body = load("patient_view_candidate.json")
    del body["prefetch"][key]
    response = hook(client, "ldn-candidacy", body)
    assert response.status_code == 412
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [f"prefetch.{key}"]


def test_a_null_key_means_none_but_an_absent_key_means_unknown(client: TestClient) -> None:
    body = load("patient_view_candidate.json")
    body["prefetch"]["allergies"] = None  # looked: no allergies
    [card] = cards_of(hook(client, "ldn-candidacy", body))
    assert card["extension"]["ldncds"]["decision"] == "candidate"
    del body["prefetch"]["allergies"]  # not looked at: required (US Core), a naltrexone allergy is unknown
    response = hook(client, "ldn-candidacy", body)
    assert response.status_code == 412
    assert response.json()["issue"][0]["expression"] == ["prefetch.allergies"]


def test_without_medication_statements_a_candidate_is_still_possible(client: TestClient) -> None:
    body = load("patient_view_candidate.json")
    del body["prefetch"]["medicationStatements"]  # Oracle Health R4 has none; US Core does not require it
    [card] = cards_of(hook(client, "ldn-candidacy", body))
    assert card["extension"]["ldncds"]["decision"] == "candidate"


def test_filters_are_not_trusted_a_refuted_condition_is_ignored(client: TestClient) -> None:
    body = load("patient_view_candidate.json")
    condition = body["prefetch"]["conditions"]["entry"][0]["resource"]
    condition["verificationStatus"]["coding"][0]["code"] = "refuted"
    assert cards_of(hook(client, "ldn-candidacy", body)) == []


def test_a_malformed_resource_is_named_and_its_list_incomplete(client: TestClient) -> None:
    body = load("patient_view_candidate.json")
    body["prefetch"]["medications"]["entry"][1]["resource"]["authoredOn"] = "last tuesday"
    [card] = cards_of(hook(client, "ldn-candidacy", body))  # the rest is still read: never a candidate
    assert card["extension"]["ldncds"]["decision"] == "insufficient_information"
    stored = client.get(f"/api/v1/assessments/{card['extension']['ldncds']['assessment_id']}").json()
    [note] = [n for n in stored["assessment"]["data_notes"] if n["severity"] == "unreadable"]
    assert note["source"] == "MedicationRequest/mr-duloxetine" and "authoredOn" in note["reason"]


def test_a_patient_that_is_not_the_context_patient_is_refused(client: TestClient) -> None:
    body = load("patient_view_candidate.json")
    body["prefetch"]["patient"]["id"] = "someone-else"
    response = hook(client, "ldn-candidacy", body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["prefetch.patient.id"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda b: b["context"].pop("patientId"), "context.patientId"),
        (lambda b: b["context"].update(patientId="a b/../c"), "context.patientId"),
        (lambda b: b.update(hook="order-sign"), "hook"),
        (lambda b: b.pop("hookInstance"), "hookInstance"),
        (lambda b: b["prefetch"].update(conditions=[1, 2]), "prefetch.conditions"),
        (lambda b: b.update(fhirServer=None, fhirAuthorization={"access_token": "t"}), "body"),
    ],
)
def test_bad_requests_are_400_naming_the_field(client: TestClient, change: Any, path: str) -> None:
    body = load("patient_view_candidate.json")
    change(body)
    response = hook(client, "ldn-candidacy", body)
    assert response.status_code == 400
    assert path in [e for issue in response.json()["issue"] for e in issue["expression"]]


def test_unknown_extensions_are_tolerated(client: TestClient) -> None:
    body = load("patient_view_candidate.json")
    body["extension"] = {"org.example.x": {"a": 1}}
    body["context"]["extension"] = {"org.example.y": True}
    body["hookVersion"] = "1.0"
    assert len(cards_of(hook(client, "ldn-candidacy", body))) == 1


def test_unknown_service_is_404(client: TestClient) -> None:
    response = hook(client, "no-such-service", load("patient_view_candidate.json"))
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


# ---------------------------------------------------------------------------------------------- order checks


def draft(rid: str, code: str | None, display: str, dose_mg: float | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": display}
    if code:
        concept["coding"] = [{"system": RX, "code": code, "display": display}]
    order: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": {"reference": "Patient/pt-1001"},
    }
    if dose_mg is not None:
        order["dosageInstruction"] = [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": dose_mg, "unit": "mg"}}],
            }
        ]
    return order


def order_request(
    hook_name: str, drafts: list[dict[str, Any]], record: str, selections: list[str] | None = None
) -> dict[str, Any]:
    body = copy.deepcopy(load(record))
    body["hook"] = hook_name
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": d} for d in drafts],
    }
    if selections is not None:
        body["context"]["selections"] = selections
    return body


OXYCODONE = draft("draft-oxy", "1049621", "oxycodone hydrochloride 5 MG Oral Tablet")


def test_opioid_order_for_a_patient_on_ldn_is_critical(client: TestClient) -> None:
    [card] = cards_of(hook(client, "ldn-order-sign", load("order_sign_opioid_on_ldn.json")))
    assert card["indicator"] == "critical"
    assert "oxycodone" in card["summary"] and "MedicationRequest/mr-ldn" in card["detail"]
    [suggestion] = card["suggestions"]
    assert suggestion["actions"] == [
        {
            "type": "delete",
            "description": "Remove the draft order MedicationRequest/draft-oxy",
            "resourceId": "MedicationRequest/draft-oxy",
        }
    ]


def test_an_opioid_named_only_in_text_still_blocks(client: TestClient) -> None:
    body = load("order_sign_opioid_on_ldn.json")
    body["context"]["draftOrders"]["entry"] = [{"resource": draft("d1", None, "Oxycodone 5mg tabs")}]
    [card] = cards_of(hook(client, "ldn-order-sign", body))
    assert card["indicator"] == "critical"


def test_opioid_order_without_naltrexone_is_silent(client: TestClient) -> None:
    body = order_request("order-sign", [OXYCODONE], "patient_view_candidate.json")
    assert cards_of(hook(client, "ldn-order-sign", body)) == []


def test_naltrexone_order_with_a_current_opioid_is_critical(client: TestClient, store: Any) -> None:
    body = order_request(
        "order-sign",
        [draft("d-ldn", "7243", "naltrexone", 1.5)],
        "patient_view_contraindicated_tramadol.json",
    )
    [card] = cards_of(hook(client, "ldn-order-sign", body))
    assert card["indicator"] == "critical"
    assert "tramadol" in card["summary"] and "CONTRA-OPIOID-01" in card["detail"]
    assert card["source"]["url"] == f"{BASE}/rulebook#rule-CONTRA-OPIOID-01"
    stored = store.get(card["uuid"])
    assert stored is not None and stored.caller.service_id == "ldn-order-sign"
    assert stored.assessment["hard_stops"][0]["explanations"][0]["rule_id"] == "CONTRA-OPIOID-01"


@pytest.mark.parametrize(
    ("dose", "record", "expected"),
    [
        (4.5, "patient_view_candidate.json", []),
        (6.0, "patient_view_candidate.json", []),
        (9.0, "patient_view_candidate.json", ["warning"]),
        (50.0, "patient_view_candidate.json", []),  # full-dose naltrexone outside an LDN context
        (50.0, "order_sign_opioid_on_ldn.json", ["warning"]),  # ... for a patient on LDN
    ],
)
def test_naltrexone_dose_above_the_ldn_range_warns(
    client: TestClient, dose: float, record: str, expected: list[str]
) -> None:
    body = order_request("order-sign", [draft("d-ldn", "7243", "naltrexone", dose)], record)
    cards = cards_of(hook(client, "ldn-order-sign", body))
    assert [c["indicator"] for c in cards] == expected
    if expected:
        assert f"{dose:g} mg/day" in cards[0]["summary"]


def test_order_select_checks_only_the_selected_orders(client: TestClient) -> None:
    other = draft("draft-ibu", "310965", "ibuprofen 200 MG Oral Tablet")
    base = load("order_sign_opioid_on_ldn.json")
    drafts = [OXYCODONE, other]
    body = order_request(
        "order-select", drafts, "order_sign_opioid_on_ldn.json", ["MedicationRequest/draft-ibu"]
    )
    body["prefetch"] = base["prefetch"]
    assert cards_of(hook(client, "ldn-order-select", body)) == []
    body["context"]["selections"] = ["MedicationRequest/draft-oxy"]
    [card] = cards_of(hook(client, "ldn-order-select", body))
    assert card["indicator"] == "critical"


def test_an_unrelated_order_needs_no_record(client: TestClient) -> None:
    body = order_request(
        "order-sign",
        [draft("draft-ibu", "310965", "ibuprofen 200 MG Oral Tablet")],
        "patient_view_candidate.json",
    )
    body.pop("prefetch")
    assert cards_of(hook(client, "ldn-order-sign", body)) == []


def test_order_check_without_the_medication_list_is_412(client: TestClient) -> None:
    body = load("order_sign_opioid_on_ldn.json")
    del body["prefetch"]["medications"]
    response = hook(client, "ldn-order-sign", body)
    assert response.status_code == 412 and response.json()["issue"][0]["expression"] == [
        "prefetch.medications"
    ]


def test_draft_orders_must_be_a_bundle(client: TestClient) -> None:
    body = load("order_sign_opioid_on_ldn.json")
    body["context"]["draftOrders"] = OXYCODONE
    response = hook(client, "ldn-order-sign", body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["context.draftOrders.resourceType"]


def test_a_malformed_draft_order_is_still_checked(client: TestClient) -> None:
    body = load("order_sign_opioid_on_ldn.json")
    body["context"]["draftOrders"]["entry"][0]["resource"]["status"] = 7
    [card] = cards_of(hook(client, "ldn-order-sign", body))  # a 400 would skip the safety check
    assert card["indicator"] == "critical" and "oxycodone" in card["summary"]


# ---------------------------------------------------------------------------------------------- feedback


def test_feedback_is_recorded_once_with_its_assessment(client: TestClient, store: Any) -> None:
    [card] = cards_of(hook(client, "ldn-candidacy", load("patient_view_candidate.json")))
    item = {
        "card": card["uuid"],
        "outcome": "accepted",
        "outcomeTimestamp": "2026-03-01T10:00:00Z",
        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
    }
    url = "/cds-services/ldn-candidacy/feedback"
    first = client.post(url, json={"feedback": [item, item]})
    assert first.status_code == 200 and first.json() == {"received": 2, "recorded": 1}
    same_moment = dict(item, outcomeTimestamp="2026-03-01T12:00:00+02:00")
    assert client.post(url, json={"feedback": [same_moment]}).json() == {"received": 1, "recorded": 0}
    stored = store.get(card["uuid"])
    assert [f["outcome"] for f in stored.feedback] == ["accepted"]


def test_feedback_for_an_unknown_card_is_accepted(client: TestClient) -> None:
    item = {
        "card": "not-a-card-we-know",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-03-01T10:00:00Z",
        "overrideReason": {
            "reason": {"code": "patient-declined", "system": "urn:x", "display": "Declined"},
            "userComment": "prefers to wait",
        },
    }
    response = client.post("/cds-services/ldn-order-sign/feedback", json={"feedback": [item]})
    assert response.status_code == 200 and response.json()["recorded"] == 1


@pytest.mark.parametrize(
    ("service", "body", "status"),
    [
        ("nope", {"feedback": []}, 404),
        ("ldn-candidacy", {"feedback": [{"card": "c", "outcome": "accepted"}]}, 400),
        (
            "ldn-candidacy",
            {"feedback": [{"card": "c", "outcome": "liked", "outcomeTimestamp": "2026-03-01T10:00:00Z"}]},
            400,
        ),
    ],
)
def test_bad_feedback(client: TestClient, service: str, body: dict[str, Any], status: int) -> None:
    response = client.post(f"/cds-services/{service}/feedback", json=body)
    assert response.status_code == status and response.json()["resourceType"] == "OperationOutcome"


def test_patient_view_gives_no_advice_when_the_rule_engine_fails(store: Any) -> None:
    """The gate and the assessment share one derivation: a failing rule engine is still no advice."""
    from ldncds.engine import EngineError

    broken = Engine()

    def fail(*_: Any) -> Any:
        raise EngineError("rule engine refused the facts in phase findings (code 1)")

    broken.matcher.run = fail  # type: ignore[method-assign]
    client = TestClient(create_app(Settings(public_base_url=BASE), engine=broken, store=store))
    response = hook(client, "ldn-candidacy", load("patient_view_candidate.json"))
    assert response.status_code == 503 and "cards" not in response.json()
    assert store.list() == []
