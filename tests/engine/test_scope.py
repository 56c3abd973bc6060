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
    # derive reads abatement as "not current" whatever the status says, so the gate does too.
    fm = Condition(
        source="Condition/c",
        codes=[{"system": "ICD-10-CM", "code": "M79.7"}],
        clinical_status="active",
        abatement=(TODAY - timedelta(days=3)).isoformat(),
    )
    assert not in_scope(PatientFacts(conditions=[fm]), TODAY, engine.ruleset)
    active = fm.model_copy(update={"abatement": None})
    assert in_scope(PatientFacts(conditions=[active]), TODAY, engine.ruleset)
