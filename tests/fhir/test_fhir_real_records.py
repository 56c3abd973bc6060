"""Records as EHRs send them (issue 12): a real-shaped corpus, each case through HTTP and the adapter.

The corpus in tests/fixtures/fhir/real/ was written by hand from the FHIR R4 specification, US Core
and the CDC opioid CDS IG's test-patient shapes: a candidate chart (fibromyalgia, physical therapy,
naproxen, duloxetine) plus, per case, the records that must change the answer.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.engine import Engine
from ldncds.fhir import FhirInputError, facts_from_bundle, facts_from_resources
from ldncds.fhir.references import parse_reference, reference_id
from ldncds.screening.bulk import patient_key
from ldncds.settings import Settings
from ldncds.store import open_store

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "fixtures" / "fhir" / "real"
HTTP = ROOT / "fixtures" / "http"
CASES = sorted(p.stem for p in REAL.glob("*.json") if p.stem != "base_chart")
CANDIDATES = {"candidate", "candidate_with_cautions"}


def case(name: str) -> dict[str, Any]:
    return json.loads((REAL / f"{name}.json").read_text())


def chart_with(name: str | None) -> dict[str, Any]:
    """The candidate chart plus the case's records (None: the chart alone)."""
    bundle = json.loads((REAL / "base_chart.json").read_text())
    bundle["entry"] += [{"resource": copy.deepcopy(r)} for r in (case(name)["add"] if name else [])]
    return bundle


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture(scope="module")
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(Settings(), engine=engine, store=open_store("sqlite://")))


@pytest.mark.parametrize("name", CASES)
def test_each_real_shaped_case_gets_the_safe_answer(client: TestClient, name: str) -> None:
    spec = case(name)
    response = client.post(
        f"/api/v1/assessments?evaluation_date={spec['evaluation_date']}", json=chart_with(name)
    )
    assert response.status_code == 201, response.text
    decision = response.json()["decision"]
    if "expect" in spec:
        assert decision == spec["expect"], spec["description"]
    assert decision not in spec.get("expect_not", []), spec["description"]


def test_the_base_chart_alone_is_a_candidate(client: TestClient) -> None:
    response = client.post("/api/v1/assessments?evaluation_date=2026-03-01", json=chart_with(None))
    assert response.json()["decision"] == "candidate"


def _meds(name: str, site_timezone: str = "America/New_York") -> dict[str, Any]:
    """The case's medications as read at a US Eastern site (the corpus is written in its offsets)."""
    facts = facts_from_bundle(chart_with(name), site_timezone=site_timezone).facts
    return {m.source: m for m in facts.medications or []}


# ---------------------------------------------------------------------------------------------------------
# Item 1: dispenses and administrations are exposures


def test_a_dispense_is_an_exposure_for_its_days_supply() -> None:
    dispense = _meds("dispense_oxycodone_er")["MedicationDispense/md-oxy"]
    # Handed over 26 Feb in its own offset (US Eastern afternoon), 30 days supply.
    assert (dispense.record, dispense.start, dispense.end, dispense.end_basis) == (
        "dispense", "2026-02-26", "2026-03-28", "dispense",
    )  # fmt: skip


def test_a_dispense_without_days_supply_lasts_quantity_over_daily_dose() -> None:
    dispense = _meds("dispense_quantity_over_daily_dose")["MedicationDispense/md-oxy-qty"]
    assert (dispense.start, dispense.end, dispense.end_basis) == (
        "2026-02-24",
        "2026-03-16",
        "dispense",
    )  # 40 / 2 a day


def test_an_administration_is_an_exposure_on_its_day() -> None:
    given = _meds("administration_iv_hydromorphone")["MedicationAdministration/ma-hm"]
    assert (given.record, given.status, given.start, given.end, given.end_basis) == (
        "administration", "completed", "2026-02-28", "2026-02-28", "administration",
    )  # fmt: skip
    # 22:40 at -05:00 is 03:40 UTC on 1 March: at a UTC site it was given today.
    at_utc = _meds("administration_iv_hydromorphone", "UTC")["MedicationAdministration/ma-hm"]
    assert (at_utc.start, at_utc.end) == ("2026-03-01", "2026-03-01")


# ---------------------------------------------------------------------------------------------------------
# Item 2: ends of stopped or completed orders


def test_a_stopped_order_without_end_or_supply_has_an_unknown_end() -> None:
    stopped = _meds("stopped_long_term_oxycodone_no_end")["MedicationRequest/mr-oxy-stopped"]
    assert (stopped.status, stopped.end, stopped.end_basis) == ("stopped", None, None)


def test_a_completed_order_ends_with_its_supply() -> None:
    order = _meds("completed_30_day_supply_20_days_ago")["MedicationRequest/mr-oxy-30"]
    assert (order.end, order.end_basis) == ("2026-03-11", "supply")


def test_the_validity_period_is_never_the_end_of_therapy() -> None:
    vicodin = _meds("vicodin_10_days_validity_one_year")["MedicationRequest/mr-vicodin"]
    assert (vicodin.end, vicodin.end_basis) == ("2025-12-21", "supply")  # not 2026-12-11


def test_a_matching_dispense_bounds_an_order_that_records_no_supply() -> None:
    bundle = chart_with("stopped_long_term_oxycodone_no_end")
    dispense = copy.deepcopy(case("dispense_oxycodone_er")["add"][0])
    dispense["authorizingPrescription"] = [{"reference": "MedicationRequest/mr-oxy-stopped"}]
    bundle["entry"].append({"resource": dispense})
    meds = {m.source: m for m in facts_from_bundle(bundle).facts.medications or []}
    order = meds["MedicationRequest/mr-oxy-stopped"]
    assert (order.end, order.end_basis) == ("2026-03-28", "dispense")


def test_quantity_over_daily_dose_counts_every_refill_for_the_exposure_only() -> None:
    order = {
        "resourceType": "MedicationRequest", "id": "mr-q", "status": "completed", "intent": "order",
        "medicationCodeableConcept": {"text": "oxycodone 5 mg"}, "authoredOn": "2026-01-01",
        "subject": {"reference": "Patient/p1"},
        "dosageInstruction": [{"timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}},
                               "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}],
        "dispenseRequest": {"quantity": {"value": 20, "unit": "tablet"}, "numberOfRepeatsAllowed": 1},
    }  # fmt: skip
    [med] = facts_from_resources(None, {"medications": [order]}).facts.medications or []
    # One fill (20 tablets at 4 a day) is certain; with the refill the supply may last to the 11th:
    # the exposure (washout) counts from the latest end, a trial only from the first.
    assert (med.end, med.end_latest, med.end_basis) == ("2026-01-06", "2026-01-11", "supply")


# ---------------------------------------------------------------------------------------------------------
# Items 3, 4, 8: conditions without status, conflicting duplicates, unreadable records as notes


def test_an_encounter_diagnosis_without_status_is_kept_with_its_category() -> None:
    facts = facts_from_bundle(chart_with("encounter_diagnosis_long_term_opioid_no_status")).facts
    [ltot] = [c for c in facts.conditions or [] if c.source == "Condition/cond-ltot"]
    assert (ltot.clinical_status, ltot.category, ltot.recorded_date) == (
        None, ["encounter-diagnosis"], "2026-02-19",
    )  # fmt: skip


def test_us_core_and_unknown_condition_categories() -> None:
    condition = {
        "resourceType": "Condition", "id": "c1", "code": {"text": "x"},
        "subject": {"reference": "Patient/p1"},
        "category": [
            {"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/condition-category",
                         "code": "health-concern"}]},
            {"coding": [{"system": "http://example.org/local", "code": "billing"}]},
        ],
    }  # fmt: skip
    [fact] = facts_from_resources(None, {"conditions": [condition]}).facts.conditions or []
    assert fact.category == ["health-concern", "other"]


def test_conflicting_duplicates_are_both_kept_and_named() -> None:
    facts = facts_from_bundle(chart_with("duplicate_id_active_tramadol")).facts
    copies = [m for m in facts.medications or [] if m.source == "MedicationRequest/mr-dup"]
    assert sorted(m.status for m in copies) == ["active", "completed"]
    [note] = [n for n in facts.notes if n.source == "MedicationRequest/mr-dup"]
    assert (note.section, note.severity) == ("medications", "caveat")


def test_identical_or_ordered_duplicates_keep_one_copy() -> None:
    order = case("duplicate_id_active_tramadol")["add"][1]
    newer = copy.deepcopy(order) | {"meta": {"versionId": "2"}, "status": "stopped"}
    older = copy.deepcopy(order) | {"meta": {"versionId": "1"}}
    for pair in ([order, copy.deepcopy(order)], [older, newer], [newer, older]):
        result = facts_from_resources(None, {"medications": pair})
        assert len(result.facts.medications or []) == 1 and result.facts.notes == []
    assert [
        m.status for m in facts_from_resources(None, {"medications": [newer, older]}).facts.medications or []
    ] == ["stopped"]


def test_a_modifier_extension_makes_the_record_unreadable_and_its_section_incomplete() -> None:
    facts = facts_from_bundle(chart_with("unknown_modifier_extension")).facts
    assert "MedicationRequest/mr-modext" not in {m.source for m in facts.medications or []}
    assert facts.incomplete == ["medications"]
    [note] = facts.notes
    assert (note.source, note.section, note.severity) == (
        "MedicationRequest/mr-modext",
        "medications",
        "unreadable",
    )


def test_notes_reach_the_json_api_caller(client: TestClient) -> None:
    response = client.post(
        "/api/v1/assessments?evaluation_date=2026-03-01", json=chart_with("unknown_modifier_extension")
    )
    notes = response.json()["data_notes"]
    assert [(n["source"], n["severity"]) for n in notes] == [("MedicationRequest/mr-modext", "unreadable")]


def test_ignored_resource_types_are_named() -> None:
    bundle = chart_with(None)
    flu = {"resourceType": "Immunization", "id": "imm-1", "status": "completed",
           "vaccineCode": {"text": "flu"}, "patient": {"reference": "Patient/pt-1001"},
           "occurrenceDateTime": "2025-10-01"}  # fmt: skip
    bundle["entry"].append({"resource": flu})
    notes = facts_from_bundle(bundle).facts.notes
    assert [(n.source, n.severity) for n in notes] == [("Immunization", "caveat")]


def test_an_unresolved_medication_reference_is_named() -> None:
    order = case("medication_reference_included")["add"][0]
    facts = facts_from_resources(None, {"medications": [order]}).facts
    assert [(n.source, n.section) for n in facts.notes] == [("MedicationRequest/mr-ref", "medications")]


# ---------------------------------------------------------------------------------------------------------
# Item 7: truncation


def test_a_total_larger_than_the_entries_marks_the_section_incomplete() -> None:
    meds = json.loads((HTTP / "patient_view_candidate.json").read_text())["prefetch"]["medications"]
    meds = dict(meds, total=219)  # no next link: the server cut the result
    facts = facts_from_resources(None, {"medications": meds}).facts
    assert facts.incomplete == ["medications"]
    assert "219" in facts.notes[0].reason
    included = dict(meds, entry=[*meds["entry"], {"resource": {"resourceType": "Medication", "id": "m"},
                                                  "search": {"mode": "include"}}], total=2)  # fmt: skip
    assert facts_from_resources(None, {"medications": included}).facts.incomplete == []


# ---------------------------------------------------------------------------------------------------------
# Issue 18 item 8: planned procedures from ServiceRequest and Appointment


def test_service_requests_and_appointments_become_planned_procedures() -> None:
    planned = {}
    for name in ("planned_surgery_service_request", "planned_surgery_appointment"):
        planned |= {p.source: p for p in facts_from_bundle(chart_with(name)).facts.procedures or []}
    request, appointment = planned["ServiceRequest/sr-surgery"], planned["Appointment/ap-surgery"]
    assert (request.status, request.performed) == ("preparation", "2026-03-15")
    assert (appointment.status, appointment.performed) == ("preparation", "2026-03-11")
    assert ("SNOMED-CT", "387713003") in {(c.system, c.code) for c in appointment.codes}


@pytest.mark.parametrize(
    ("change", "kept"),
    [
        ({"status": "completed"}, False),
        ({"status": "revoked"}, False),
        ({"intent": "proposal"}, False),
        ({"status": "draft", "intent": "plan"}, True),
    ],
)
def test_only_active_or_draft_ordered_or_planned_requests_are_planned(
    change: dict[str, str], kept: bool
) -> None:
    request = case("planned_surgery_service_request")["add"][0] | change
    procedures = facts_from_resources(None, {"procedures": [request]}).facts.procedures
    assert bool(procedures) is kept


def test_an_appointment_of_another_patient_is_dropped() -> None:
    appointment = copy.deepcopy(case("planned_surgery_appointment")["add"][0])
    appointment["participant"][0]["actor"]["reference"] = "Patient/someone-else"
    facts = facts_from_resources(None, {"procedures": [appointment]}, patient_id="pt-1001").facts
    assert facts.procedures == []


# ---------------------------------------------------------------------------------------------------------
# One reference parser for every reader


@pytest.mark.parametrize(
    ("reference", "target"),
    [
        ("Patient/p1", ("Patient", "p1")),
        ("Patient/p1/_history/3", ("Patient", "p1")),
        ("https://ehr.example.org/fhir/Patient/p1/_history/3", ("Patient", "p1")),
        ("urn:uuid:7f2c9e1a-0000-4000-8000-000000000001", (None, "7f2c9e1a-0000-4000-8000-000000000001")),
        ("#med1", (None, None)),
        ("Patient?identifier=urn:oid:1.2|123", (None, None)),
        ("p1", (None, None)),
        ("", (None, None)),
    ],
)
def test_reference_forms(reference: str, target: tuple[str | None, str | None]) -> None:
    assert tuple(parse_reference(reference)) == target


def test_every_reader_resolves_a_versioned_patient_reference() -> None:
    condition = {"resourceType": "Condition", "id": "c1", "code": {"text": "pain"},
                 "subject": {"reference": "Patient/p1/_history/3"}}  # fmt: skip
    assert reference_id("Patient/p1/_history/3", "Patient") == "p1"
    assert patient_key(condition) == "p1"  # ldncds screen and ldncds rules impact
    result = facts_from_resources(None, {"conditions": [condition]}, patient_id="p1")  # CDS Hooks, API
    assert [c.source for c in result.facts.conditions or []] == ["Condition/c1"]
    assert not [w for w in result.warnings if "could not be checked" in w]


# ---------------------------------------------------------------------------------------------------------
# CDS Hooks: optional keys, failed keys, media type, draft orders as real clients send them

OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}
TRAMADOL = {
    "resourceType": "MedicationRequest", "id": "mr-tram", "status": "active", "intent": "order",
    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                              "code": "10689", "display": "tramadol"}]},
    "subject": {"reference": "Patient/pt-1001"}, "authoredOn": "2026-01-01",
}  # fmt: skip


def hook_body(name: str = "patient_view_candidate.json") -> dict[str, Any]:
    return json.loads((HTTP / name).read_text())


def decision_and_notes(client: TestClient, body: dict[str, Any], **kwargs: Any) -> tuple[str, list[Any]]:
    response = client.post("/cds-services/ldn-candidacy", json=body, **kwargs)
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    stored = client.get(f"/api/v1/assessments/{card['extension']['ldncds']['assessment_id']}").json()
    return card["extension"]["ldncds"]["decision"], stored["assessment"].get("data_notes", [])


def test_a_site_without_medication_statements_can_get_a_candidate(client: TestClient) -> None:
    body = hook_body()
    del body["prefetch"]["medicationStatements"]
    decision, notes = decision_and_notes(client, body)
    assert decision == "candidate"
    assert {n["source"] for n in notes} >= {"prefetch.medicationStatements", "prefetch.medicationDispenses"}
    assert all(n["severity"] == "caveat" for n in notes)


def test_an_optional_key_answered_with_an_outcome_is_not_available_for_that_part_only(
    client: TestClient,
) -> None:
    body = hook_body()
    body["prefetch"]["medicationStatements"] = OUTCOME  # was: 412 naming prefetch.medications
    decision, notes = decision_and_notes(client, body)
    assert decision == "candidate"
    assert any(n["source"] == "prefetch.medicationStatements" and "error" in n["reason"] for n in notes)


def test_a_failed_allergy_search_still_lets_a_found_opioid_block(client: TestClient) -> None:
    body = hook_body()
    body["prefetch"]["medications"]["entry"].append({"resource": TRAMADOL})
    body["prefetch"]["allergies"] = OUTCOME
    decision, _ = decision_and_notes(client, body)
    assert decision == "contraindicated"
    del body["prefetch"]["medications"]["entry"][-1]  # nothing blocks: the allergy list is needed
    response = client.post("/cds-services/ldn-candidacy", json=body)
    assert response.status_code == 412
    assert response.json()["issue"][0]["expression"] == ["prefetch.allergies"]


def test_a_dispense_in_its_own_prefetch_key_blocks(client: TestClient) -> None:
    body = hook_body()
    dispense = copy.deepcopy(case("dispense_oxycodone_er")["add"][0])
    dispense["whenHandedOver"] = today_iso()
    body["prefetch"]["medicationDispenses"] = {"resourceType": "Bundle", "type": "searchset",
                                               "entry": [{"resource": dispense}]}  # fmt: skip
    decision, _ = decision_and_notes(client, body)
    assert decision == "contraindicated"


def today_iso() -> str:
    from ldncds.settings import Settings

    return Settings().today().isoformat()


def test_the_old_fhir_media_type_is_read_as_json(client: TestClient) -> None:
    response = client.post(
        "/cds-services/ldn-candidacy",
        content=json.dumps(hook_body()),
        headers={"content-type": "application/json+fhir"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["cards"][0]["extension"]["ldncds"]["decision"] == "candidate"


def _sandbox_draft(body: dict[str, Any]) -> dict[str, Any]:
    """The draft as the CDS Hooks sandbox sends it: objects where R4 has lists, and no intent."""
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    draft.pop("intent", None)
    draft["category"] = {"coding": [{"code": "outpatient"}]}
    draft["reasonCode"] = {"text": "pain"}
    return body


def test_a_sandbox_shaped_draft_order_is_still_checked(client: TestClient) -> None:
    body = _sandbox_draft(hook_body("order_sign_opioid_on_ldn.json"))
    response = client.post("/cds-services/ldn-order-sign", json=body)
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert card["indicator"] == "critical" and "oxycodone" in card["summary"]


def test_a_draft_whose_medication_cannot_be_read_gets_a_card_saying_so(client: TestClient) -> None:
    body = hook_body("order_sign_opioid_on_ldn.json")
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    draft["medicationCodeableConcept"] = {"coding": "oxycodone"}
    response = client.post("/cds-services/ldn-order-sign", json=body)
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert card["indicator"] == "warning" and "could not be checked" in card["summary"]
    assert f"MedicationRequest/{draft['id']}" in card["detail"]


def test_an_invalid_record_is_named_and_the_rest_still_decides(client: TestClient) -> None:
    bundle = chart_with("duplicate_id_active_tramadol")
    bundle["entry"][1]["resource"]["onsetDateTime"] = "2021-06-01T10:00:00"  # dateTime without a zone
    response = client.post("/api/v1/assessments?evaluation_date=2026-03-01", json=bundle)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["decision"] == "contraindicated"  # the active tramadol still blocks
    [note] = [n for n in body["data_notes"] if n["severity"] == "unreadable"]
    assert (note["source"], note["section"]) == ("Condition/cond-fm", "conditions")
    assert "onsetDateTime" in note["reason"] and "2021" not in note["reason"]
    strict = pytest.raises(FhirInputError)
    with strict:
        facts_from_bundle(bundle)  # the library default stays strict (screening reports file and line)


def test_an_invalid_record_alone_never_leaves_a_candidate(client: TestClient) -> None:
    bundle = chart_with(None)
    bundle["entry"][2]["resource"]["status"] = {"not": "a code"}  # the naproxen order
    body = client.post("/api/v1/assessments?evaluation_date=2026-03-01", json=bundle).json()
    assert body["decision"] == "insufficient_information"
    assert [n["source"] for n in body["data_notes"]] == ["MedicationRequest/mr-naproxen"]


# ---------------------------------------------------------------------------------------------------------
# `ldncds screen` and `rules impact` read a bulk export with the same reader


def _export(folder: Path, name: str) -> Path:
    """The case as a bulk export (Type.000.ndjson per resource type); references as versioned URLs."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in chart_with(name)["entry"]:
        resource = copy.deepcopy(entry["resource"])
        for field in ("subject", "patient"):
            if field in resource:
                resource[field] = {"reference": "https://ehr.example.org/fhir/Patient/pt-1001/_history/3"}
        by_type.setdefault(resource["resourceType"], []).append(resource)
    for rtype, resources in by_type.items():
        lines = "".join(json.dumps(r) + "\n" for r in resources)
        (folder / f"{rtype}.000.ndjson").write_text(lines)
    return folder


@pytest.mark.parametrize("name", ["dispense_oxycodone_er", "administration_iv_hydromorphone"])
def test_screen_and_rules_impact_read_dispenses_and_administrations(tmp_path: Path, name: str) -> None:
    from datetime import date

    from ldncds.screening import ScreenOptions, screen_export
    from ldncds.screening.population import export_population

    folder = _export(tmp_path, name)
    rows: list[Any] = []
    options = ScreenOptions(evaluation_date=date(2026, 3, 1))
    screen_export(folder, options, rows.append, lambda bad: pytest.fail(str(bad)))
    assert [(row.patient, row.decision) for row in rows] == [("pt-1001", "contraindicated")]
    [subject] = list(export_population(folder, date(2026, 3, 1)))
    assert subject.facts is not None
    records = {m.record for m in subject.facts.medications or []}
    assert records >= {"request", "dispense" if "dispense" in name else "administration"}
