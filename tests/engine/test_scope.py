"""The patient-view gate is an engine question: edge cases beside tests/test_patient_view_gate.py."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ldncds.engine import Engine, PatientFacts, in_scope
from ldncds.engine.facts import Condition, Medication

TODAY = date(2026, 3, 1)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def test_a_stopped_course_and_no_pain_condition_is_out_of_scope(engine: Engine) -> None:
    stopped = Medication(
        source="MedicationStatement/ldn",
        codes=[{"system": "RxNorm", "code": "7243"}],
        status="stopped",
        daily_dose_mg=4.5,
        start=(TODAY - timedelta(days=90)).isoformat(),
        end=(TODAY - timedelta(days=30)).isoformat(),
    )
    assert not in_scope(PatientFacts(medications=[stopped]), TODAY, engine.ruleset)


def test_an_abated_condition_is_out_of_scope(engine: Engine) -> None:
    # An abated fibromyalgia is not current: no card.
    fm = Condition(
        source="Condition/c",
        codes=[{"system": "ICD-10-CM", "code": "M79.7"}],
        clinical_status="resolved",
        abatement=(TODAY - timedelta(days=3)).isoformat(),
    )
    assert not in_scope(PatientFacts(conditions=[fm]), TODAY, engine.ruleset)
    active = fm.model_copy(update={"abatement": None, "clinical_status": "active"})
    assert in_scope(PatientFacts(conditions=[active]), TODAY, engine.ruleset)


def test_an_active_yet_abated_diagnosis_opens_the_gate(engine: Engine) -> None:
    # The record contradicts itself (R4 con-4): the card asks which half is right (ELIG-DX-CONFLICT-01).
    past = (TODAY - timedelta(days=3)).isoformat()
    fm = Condition(
        source="Condition/c", codes=[{"system": "ICD-10-CM", "code": "M79.7"}], clinical_status="active"
    )
    for update in ({"abatement": past, "abated": True}, {"abated": True}):
        assert in_scope(PatientFacts(conditions=[fm.model_copy(update=update)]), TODAY, engine.ruleset), (
            update
        )


# The gate evaluates only the rules that can open it; it must decide as the whole findings phase does.


def _gate_over_whole_phase(engine: Engine, facts: PatientFacts) -> bool:
    """The gate as first written: every findings rule through the oracle, then the same reading."""
    from ldncds.engine.derive import derive
    from ldncds.engine.matching import OracleMatcher
    from ldncds.engine.ruleschema import CriterionOutcome, TherapyOutcome
    from ldncds.engine.scope import _Scope

    ruleset = engine.ruleset
    criteria = _Scope(ruleset).criteria
    derived = derive(facts, TODAY, ruleset.valuesets)
    if any(f["kind"] == "therapy" and f.get("status") == "current" for f in derived.facts):
        return True
    for firing in OracleMatcher(ruleset).run("findings", derived.facts):
        then = ruleset.rules[firing.rule_id].rule.then
        if isinstance(then, TherapyOutcome):
            return True
        if isinstance(then, CriterionOutcome) and then.criterion in criteria:
            refs = (derived.refs.get(i) for i in firing.fact_ids)
            if any(ref is not None and ref.kind == "condition" for ref in refs):
                return True
    return False


def test_the_gate_decides_as_the_whole_findings_phase_on_generated_patients(engine: Engine) -> None:
    from hypothesis import HealthCheck, given, settings

    from support.patients import patients

    seen = {True: 0, False: 0}

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(patients())
    def check(facts: PatientFacts) -> None:
        expected = _gate_over_whole_phase(engine, facts)
        assert in_scope(facts, TODAY, engine.ruleset) is expected
        seen[expected] += 1

    check()
    assert seen[True] > 20 and seen[False] > 20, seen  # both answers exercised


def test_a_rule_subset_keeps_the_rules_that_derive_what_it_reads(engine: Engine) -> None:
    from ldncds.engine.matching import OracleMatcher, derived_fact

    phase = engine.ruleset.phase_rules("conclusions")
    readers = [lr for lr in phase if any(p.fact == "decision" for p in lr.rule.when)]
    assert readers, "the conclusions phase has rules reading derived decisions"
    reader = readers[0]
    subset = OracleMatcher(engine.ruleset, keep=lambda lr: lr is reader).phases["conclusions"]
    assert reader in subset
    assert any(derived_fact(lr) is not None for lr in subset)  # the rules deriving decisions came along
    assert [lr.rule.id for lr in subset] == [lr.rule.id for lr in phase if lr in subset]  # phase order


def test_assess_in_scope_is_the_gate_then_the_assessment_on_generated_patients(engine: Engine) -> None:
    """patient-view derives once for the gate and the assessment: the same answers as asking apart."""
    from hypothesis import HealthCheck, given, settings

    from support.patients import patients

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(patients())
    def check(facts: PatientFacts) -> None:
        together = engine.assess_in_scope(facts, TODAY)
        if not in_scope(facts, TODAY, engine.ruleset):
            assert together is None
            return
        apart = engine.assess(facts, TODAY)
        assert together is not None
        assert together.model_dump(exclude={"assessment_id"}) == apart.model_dump(exclude={"assessment_id"})

    check()


@pytest.mark.parametrize(
    ("deceased_on", "died"),
    [
        ("2026-02-28", True),
        ("2026-03-01", True),  # died today: no card
        ("2026-03-02", False),  # tomorrow: a record to correct, the patient is assessed
        ("2026-02", True),  # a month that has ended
        ("2026-03", False),  # a month that has not: may be after today
        ("2025", True),
        ("2026", False),
    ],
)
def test_died_by_needs_a_date_of_death_certainly_past(deceased_on: str, died: bool) -> None:
    assert PatientFacts(deceased=True, deceased_on=deceased_on).died_by(TODAY) is died


def test_deceased_without_a_date_has_died() -> None:
    assert PatientFacts(deceased=True).died_by(TODAY)
    assert not PatientFacts().died_by(TODAY)
