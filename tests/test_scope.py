"""The patient-view gate is an engine question: it can never disagree with the assessment."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ldncds.cdshooks.cards import has_in_scope_condition
from ldncds.engine import Engine, PatientFacts
from ldncds.engine.facts import Condition, Medication
from ldncds.engine.scope import in_scope, scope_value_sets

TODAY = date.today()  # has_in_scope_condition reads today's date, as the service does


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def _ldn(**kwargs: object) -> Medication:
    base = {
        "source": "MedicationStatement/ldn",
        "daily_dose_mg": 4.5,
        "start": (TODAY - timedelta(days=60)).isoformat(),
    }
    return Medication.model_validate(base | kwargs)


@pytest.mark.parametrize(
    "medication",
    [
        _ldn(
            text="low dose naltrexone 4.5 mg at night", status="active"
        ),  # text only: the engine reads names
        _ldn(  # completed on paper, supply running past today: the engine counts it as current
            codes=[{"system": "RxNorm", "code": "7243"}],
            status="completed",
            end=(TODAY + timedelta(days=20)).isoformat(),
        ),
    ],
    ids=["text-only", "completed-with-future-end"],
)
def test_whoever_the_engine_finds_on_therapy_gets_a_card(engine: Engine, medication: Medication) -> None:
    facts = PatientFacts(medications=[medication])
    assert engine.assess(facts, TODAY).decision == "on_therapy"
    assert has_in_scope_condition(facts, engine.ruleset.valuesets)


def test_a_stopped_course_and_no_pain_condition_is_out_of_scope(engine: Engine) -> None:
    stopped = _ldn(
        codes=[{"system": "RxNorm", "code": "7243"}],
        status="stopped",
        end=(TODAY - timedelta(days=30)).isoformat(),
    )
    assert not has_in_scope_condition(PatientFacts(medications=[stopped]), engine.ruleset.valuesets)


def test_the_scope_code_lists_come_from_the_rules(engine: Engine) -> None:
    # The value sets the qualifying-diagnosis and pain-duration rules test: one home per code list.
    sets = scope_value_sets(engine.ruleset)
    assert {"fibromyalgia", "lumbar_radiculopathy", "low_back_pain", "chronic_pain"} <= sets
    assert engine.ruleset.valuesets.scope_sets == sets


def test_an_abated_condition_is_out_of_scope(engine: Engine) -> None:
    # derive reads abatement as "not current" whatever the status says, so the gate does too.
    fm = Condition(
        source="Condition/c",
        codes=[{"system": "ICD-10-CM", "code": "M79.7"}],
        clinical_status="active",
        abatement=(TODAY - timedelta(days=3)).isoformat(),
    )
    assert not in_scope(PatientFacts(conditions=[fm]), TODAY, engine.ruleset.valuesets)
