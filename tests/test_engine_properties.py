"""Property-based tests: durable_rules agrees with the plain-Python oracle, and safety invariants hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from ldncds.engine import Engine, PatientFacts
from ldncds.engine.assessment import Assessment
from patient_strategies import ON, patients

ROOT = Path(__file__).resolve().parents[1]
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
def test_decision_is_deterministic(durable: Engine, patient: PatientFacts) -> None:
    assert durable.assess(patient, ON) == durable.assess(patient, ON)
