"""The patient-view gate is an engine question: a patient the engine would call `on_therapy`, or one
with a pain diagnosis the eligibility rules read, gets a card; the gate and the engine cannot disagree."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.engine import Engine, PatientFacts, in_scope
from ldncds.engine.facts import Condition, Medication
from ldncds.settings import Settings
from ldncds.store import open_store

ROOT = Path(__file__).resolve().parents[2]
ON = date(2026, 3, 1)
NALTREXONE = {"system": "RxNorm", "code": "7243", "display": "naltrexone"}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def text_only_ldn() -> Medication:
    return Medication(
        source="MedicationStatement/ldn-text",
        text="naltrexone 4.5 mg capsule (compounded), one at bedtime",
        status="active",
        record="statement",
        start="2025-10-01",
        daily_dose_mg=4.5,
    )


def completed_running_on() -> Medication:
    """A 90-day LDN supply marked `completed` at dispensing: its end is still ahead."""
    return Medication(
        source="MedicationRequest/ldn-90d",
        codes=[NALTREXONE],
        status="completed",
        start="2026-01-15",
        end="2026-04-15",
        end_basis="supply",
        daily_dose_mg=4.5,
    )


@pytest.mark.parametrize("medication", [text_only_ldn(), completed_running_on()], ids=["text", "completed"])
def test_a_patient_the_engine_calls_on_therapy_is_in_scope(engine: Engine, medication: Medication) -> None:
    facts = PatientFacts(birth_date="1970-01-01", conditions=[], medications=[medication], allergies=[])
    assert engine.assess(facts, ON).decision == "on_therapy"
    assert engine.in_scope(facts, ON) is True


def test_an_ended_naltrexone_course_alone_is_not_in_scope(engine: Engine) -> None:
    old = completed_running_on().model_copy(update={"end": "2026-02-01"})
    facts = PatientFacts(birth_date="1970-01-01", conditions=[], medications=[old], allergies=[])
    assert engine.assess(facts, ON).decision != "on_therapy"
    assert engine.in_scope(facts, ON) is False


@pytest.mark.parametrize(
    ("code", "status", "in_scope"),
    [
        ({"system": "ICD-10-CM", "code": "M79.7"}, "active", True),  # fibromyalgia
        ({"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M5416"}, "active", True),  # radiculopathy
        ({"system": "ICD-10-CM", "code": "M79.7"}, None, True),  # status unknown: the engine asks
        ({"system": "ICD-10-CM", "code": "M54.50"}, "active", True),  # axial pain: "not a candidate"
        ({"system": "ICD-10-CM", "code": "G89.29"}, "recurrence", True),  # chronic pain: which diagnosis?
        ({"system": "ICD-10-CM", "code": "M79.7"}, "resolved", False),
        ({"system": "http://snomed.info/sct", "code": "38341003"}, "active", False),  # hypertension
    ],
)
def test_pain_conditions_in_scope(engine: Engine, code: dict, status: str | None, in_scope: bool) -> None:
    condition = Condition(source="Condition/c", codes=[code], clinical_status=status, onset="2024-01-01")
    facts = PatientFacts(conditions=[condition])
    assert engine.in_scope(facts, ON) is in_scope


def test_no_conditions_is_out_of_scope(engine: Engine) -> None:
    assert engine.in_scope(PatientFacts(), ON) is False


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.json")), ids=lambda p: p.stem)
def test_every_example_patient_is_in_scope(engine: Engine, path: Path) -> None:
    assert engine.in_scope(PatientFacts.model_validate_json(path.read_bytes()), ON) is True


def test_the_gate_is_exported_by_the_engine_and_knows_no_code_list(engine: Engine) -> None:
    source = (ROOT / "src" / "ldncds" / "cdshooks" / "cards.py").read_text()
    assert "IN_SCOPE_VALUE_SETS" not in source and "has_in_scope_condition" not in source
    facts = PatientFacts(medications=[text_only_ldn()])
    assert in_scope(facts, ON, engine.ruleset) is engine.in_scope(facts, ON) is True


# ---------------------------------------------------------------------------------------------- over HTTP


def test_a_text_only_ldn_entry_gets_a_card_over_http(engine: Engine) -> None:
    body: dict[str, Any] = copy.deepcopy(
        json.loads((ROOT / "tests" / "fixtures" / "http" / "patient_view_no_pain_condition.json").read_text())
    )
    client = TestClient(create_app(Settings(), engine=engine, store=open_store("sqlite://")))
    assert client.post("/cds-services/ldn-candidacy", json=body).json() == {"cards": []}
    started = date.fromordinal(Settings().today().toordinal() - 60).isoformat()
    statement = {
        "resourceType": "MedicationStatement",
        "id": "ldn-text",
        "status": "active",
        "medicationCodeableConcept": {"text": "naltrexone 4.5 mg capsule (compounded)"},
        "subject": {"reference": f"Patient/{body['context']['patientId']}"},
        "effectivePeriod": {"start": started},
        "dosage": [
            {
                "text": "4.5 mg at bedtime",
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 4.5, "unit": "mg"}}],
            }
        ],
    }
    body["prefetch"]["medicationStatements"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": statement}],
    }
    response = client.post("/cds-services/ldn-candidacy", json=body)
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert card["extension"]["org.ldncds.assessment"]["decision"] == "on_therapy"
