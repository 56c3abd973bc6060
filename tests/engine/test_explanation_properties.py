"""Properties of what the clinician reads, over generated patients: missing and also-missing split the
unknown criteria exactly, an insufficient answer always names what is missing, no way out is said
twice, and the patient-view gate never hides a patient the engine follows up on LDN."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from ldncds.engine import Engine, PatientFacts, in_scope
from support.patients import ON, patients

RUNS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(matcher="oracle")


@RUNS
@given(patient=patients())
def test_missing_and_also_missing_split_the_unknowns(engine: Engine, patient: PatientFacts) -> None:
    a = engine.assess(patient, ON)
    missing = [m.criterion for m in a.missing]
    also = [m.criterion for m in a.also_missing]
    assert not set(missing) & set(also)
    unknown = {c.id for c in a.criteria if c.status == "unknown" and c.required}
    if a.decision == "on_therapy":
        assert missing == also == []
    else:
        assert set(missing) | set(also) == unknown
    if a.decision == "insufficient_information":
        assert missing, "an insufficient answer must name what is missing"
    if a.decision in ("contraindicated", "not_candidate"):
        assert missing == [] and all(m.note for m in a.also_missing)
    said = [" ".join(t.lower().split()) for t in a.counterfactuals]
    assert len(said) == len(set(said))
    if a.decision == "contraindicated":
        assert len(a.counterfactuals) <= len({h.culprit.source for h in a.hard_stops})


@RUNS
@given(patient=patients())
def test_the_gate_never_hides_a_patient_on_ldn(engine: Engine, patient: PatientFacts) -> None:
    a = engine.assess(patient, ON)
    diagnosis = [c for c in a.criteria if c.pathways or c.id == "qualifying_diagnosis"]
    read_from_a_condition = any(
        f.kind == "condition" for c in diagnosis for e in c.explanations for f in e.facts
    )
    if a.decision == "on_therapy" or read_from_a_condition:
        assert in_scope(patient, ON, engine.ruleset)
