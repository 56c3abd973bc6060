"""Property-based tests: durable_rules agrees with the plain-Python oracle, and safety invariants hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from ldncds.engine import Engine, PatientFacts
from ldncds.engine.assessment import Assessment
from support.patients import ON, patients

ROOT = Path(__file__).resolve().parents[2]
DIFFERENTIAL_EXAMPLES = int(os.environ.get("LDNCDS_DIFFERENTIAL_EXAMPLES", "2000"))
RANK = {
    "contraindicated": 0,
    "not_candidate": 1,
    "insufficient_information": 2,
    "candidate_with_cautions": 3,
    "candidate": 4,
}
OXYCODONE = {
    "source": "MedicationRequest/added-opioid",
    "status": "active",
    "start": "2026-01-01",
    "codes": [{"system": "RxNorm", "code": "1049621", "display": "oxycodone hydrochloride 5 MG Oral Tablet"}],
}
HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]


def runs(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=HEALTH)


@pytest.fixture(scope="module")
def durable() -> Engine:
    return Engine(ROOT / "rules", matcher="durable")


@pytest.fixture(scope="module")
def oracle() -> Engine:
    return Engine(ROOT / "rules", matcher="oracle")


@runs(DIFFERENTIAL_EXAMPLES)
@given(patient=patients())
def test_durable_rules_agrees_with_the_oracle(durable: Engine, oracle: Engine, patient: PatientFacts) -> None:
    engine_result = durable.assess(patient, ON)
    oracle_result = oracle.assess(patient, ON)
    assert engine_result.decision == oracle_result.decision
    assert engine_result.model_dump() == oracle_result.model_dump()


@runs(300)
@given(patient=patients())
def test_no_candidate_while_a_hard_stop_holds(durable: Engine, patient: PatientFacts) -> None:
    a = durable.assess(patient, ON)
    if a.hard_stops:
        assert a.decision == "contraindicated"
    if a.decision.startswith("candidate"):
        required = [c for c in a.criteria if c.required and c.status != "not_applicable"]
        assert all(c.status == "met" for c in required)
        assert not a.hard_stops and a.plan is not None


@runs(200)
@given(patient=patients())
def test_adding_a_current_opioid_always_contraindicates(durable: Engine, patient: PatientFacts) -> None:
    meds = list(patient.model_dump()["medications"] or [])
    with_opioid = PatientFacts.model_validate(patient.model_dump() | {"medications": [*meds, OXYCODONE]})
    assert durable.assess(with_opioid, ON).decision == "contraindicated"


@runs(150)
@given(patient=patients())
def test_missing_required_data_never_gives_a_candidate(durable: Engine, patient: PatientFacts) -> None:
    body = patient.model_dump()
    for change in ("birth_date", "conditions", "medications", "procedures", "allergies"):
        after = durable.assess(PatientFacts.model_validate(body | {change: None}), ON)
        assert not after.decision.startswith("candidate"), change
        assert after.decision in ("contraindicated", "not_candidate", "insufficient_information")


@runs(100)
@given(patient=patients())
def test_missing_results_are_named_when_they_could_change_nothing_else(
    durable: Engine, patient: PatientFacts
) -> None:
    after = durable.assess(PatientFacts.model_validate(patient.model_dump() | {"observations": None}), ON)
    assert "CHECK-RESULTS-MISSING-01" in after.rules_fired
    assert any("opiate screen" in n.text for n in after.notes)


def _cited_against(a: Assessment) -> set[str]:
    """Sources behind anything that holds the patient back (hard stops, cautions, not met, unknown)."""
    cited = {h.culprit.source for h in a.hard_stops} | {f.source for c in a.cautions for f in c.culprits}
    cited |= {
        f.source
        for c in a.criteria
        if c.status in ("unknown", "not_met")
        for e in c.explanations
        for f in e.facts
    }
    return cited


@runs(120)
@given(patient=patients())
def test_removing_supporting_evidence_never_moves_towards_candidate(
    durable: Engine, patient: PatientFacts
) -> None:
    original = durable.assess(patient, ON)
    against = _cited_against(original)
    body = patient.model_dump()
    for section in ("conditions", "medications", "procedures", "allergies", "observations"):
        for i, item in enumerate(body[section] or []):
            if item["source"] in against:
                continue
            reduced = body | {section: body[section][:i] + body[section][i + 1 :]}
            after = durable.assess(PatientFacts.model_validate(reduced), ON)
            assert RANK[after.decision] <= RANK[original.decision], (section, item["source"])


@runs(100)
@given(patient=patients())
def test_an_order_stopped_instead_of_completed_never_moves_towards_candidate(
    durable: Engine, patient: PatientFacts
) -> None:
    # R4 "stopped": halted before all administrations, on a day not recorded; "completed": all done.
    original = durable.assess(patient, ON)
    body = patient.model_dump()
    for i, item in enumerate(body["medications"] or []):
        if item["status"] != "completed":
            continue
        stopped = [*body["medications"]]
        stopped[i] = item | {"status": "stopped", "record": "request"}
        after = durable.assess(PatientFacts.model_validate(body | {"medications": stopped}), ON)
        assert RANK[after.decision] <= RANK[original.decision], item["source"]


@runs(100)
@given(patient=patients())
def test_decision_is_deterministic(durable: Engine, patient: PatientFacts) -> None:
    assert durable.assess(patient, ON) == durable.assess(patient, ON)


# ---------------------------------------------------------------- states that must never give a candidate
_RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
_OXY = [{"system": _RX, "code": "1049621", "display": "oxycodone hydrochloride 5 MG Oral Tablet"}]
NEVER_A_CANDIDATE: dict[str, tuple[str, dict]] = {
    # Stopped 30 days after it was written, no end date: inside the possibly-current window.
    "possibly-current opioid": (
        "medications",
        {"source": "MedicationRequest/x-stopped", "status": "stopped", "start": "2026-01-30", "codes": _OXY},
    ),
    "ended opioid with no dates": (
        "medications",
        {"source": "MedicationRequest/x-undated", "status": "completed", "codes": _OXY},
    ),
    "draft opioid": (
        "medications",
        {"source": "MedicationRequest/x-draft", "status": "draft", "start": "2026-03-01", "codes": _OXY},
    ),
    "active OUD": (
        "conditions",
        {
            "source": "Condition/x-oud",
            "codes": [{"system": "ICD-10-CM", "code": "F11.20", "display": "Opioid dependence"}],
            "clinical_status": "active",
            "onset": "2024-01-01",
        },
    ),
    # R4 con-4 broken: an active status beside an abatement blocks like an active record.
    "active OUD abated two years ago": (
        "conditions",
        {
            "source": "Condition/x-oud-abated",
            "codes": [{"system": "ICD-10-CM", "code": "F11.20", "display": "Opioid dependence"}],
            "clinical_status": "active",
            "onset": "2020-01-01",
            "abatement": "2024-03-01",
            "abated": True,
        },
    ),
    "active OUD with an undated abatement": (
        "conditions",
        {
            "source": "Condition/x-oud-abated-text",
            "codes": [{"system": "ICD-10-CM", "code": "F11.20", "display": "Opioid dependence"}],
            "clinical_status": "active",
            "onset": "2020-01-01",
            "abated": True,
        },
    ),
    "recent OUD without a status": (
        "conditions",
        {
            "source": "Condition/x-oud-nostatus",
            "codes": [
                {"system": "ICD-10-CM", "code": "F11.23", "display": "Opioid dependence with withdrawal"}
            ],
            "category": ["encounter-diagnosis"],
            "recorded_date": "2026-02-25",
        },
    ),
    "depot buprenorphine 100 days ago": (
        "medications",
        {
            "source": "MedicationAdministration/x-depot",
            "status": "completed",
            "record": "administration",
            "start": "2025-11-21",
            "end": "2025-11-21",
            "end_basis": "administration",
            "codes": [{"system": _RX, "code": "1996189", "display": "buprenorphine 200 MG/ML [Sublocade]"}],
        },
    ),
    "full-dose naltrexone, no dose recorded": (
        "medications",
        {
            "source": "MedicationRequest/x-ntx50",
            "status": "active",
            "start": "2026-01-01",
            "codes": [
                {"system": _RX, "code": "1483744", "display": "naltrexone hydrochloride 50 MG Oral Tablet"}
            ],
        },
    ),
    "full-dose naltrexone at 50 mg a day": (
        "medications",
        {
            "source": "MedicationRequest/x-ntx50-dosed",
            "status": "active",
            "start": "2026-01-01",
            "daily_dose_mg": 50.0,
            "codes": [{"system": _RX, "code": "7243", "display": "naltrexone"}],
        },
    ),
    # Dated on the evaluation date, so no negative screen can be later than it.
    "positive opiate screen without a later negative": (
        "observations",
        {
            "source": "Observation/x-uds",
            "status": "final",
            "effective": "2026-03-01",
            "result": "positive",
            "codes": [{"system": "LOINC", "code": "19295-5", "display": "Opiates [Presence] in Urine"}],
        },
    ),
    "opiate screen whose result could not be read": (
        "observations",
        {
            "source": "Observation/x-uds-unread",
            "status": "final",
            "effective": "2026-03-01",
            "codes": [{"system": "LOINC", "code": "19295-5", "display": "Opiates [Presence] in Urine"}],
        },
    ),
    "unidentified SNOMED-coded current medication": (
        "medications",
        {
            "source": "MedicationRequest/x-snomed",
            "status": "active",
            "start": "2026-01-01",
            "codes": [{"system": "SNOMED-CT", "code": "412307009", "display": "Drug product"}],
        },
    ),
}


@pytest.mark.parametrize("state", sorted(NEVER_A_CANDIDATE))
@runs(60)
@given(patient=patients())
def test_unsafe_states_never_give_a_candidate(durable: Engine, state: str, patient: PatientFacts) -> None:
    section, item = NEVER_A_CANDIDATE[state]
    body = patient.model_dump()
    body[section] = [*(body[section] or []), item]
    a = durable.assess(PatientFacts.model_validate(body), ON)
    assert not a.decision.startswith("candidate"), (state, a.reason)
    assert a.plan is None, state
