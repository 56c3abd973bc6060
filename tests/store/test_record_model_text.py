"""A model's stored text without read-back (`_model_json`) is compact_json's text of its dump, and so
the standard library's: for every float (NaN, infinities, tiny and huge ones), every string and
every assessment the engine writes; what json refuses is refused the same way."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ldncds.engine import Engine, PatientFacts
from ldncds.engine.facts import Observation
from ldncds.store import record
from ldncds.store.record import assessment_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
ON = date(2026, 3, 1)


def standard(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except ValueError as exc:
        return ValueError, str(exc)


def facts_with(values: list[float | None], text: str) -> PatientFacts:
    observations = [
        Observation(source=f"Observation/o-{i}", value_num=v, value_text=text or None)
        for i, v in enumerate(values)
    ]
    return PatientFacts(source="Patient/p", observations=observations, notes=[])


def assert_as_standard(model: PatientFacts) -> None:
    dumped = model.model_dump(mode="json")
    fast = outcome(record._model_json, model, dumped)
    assert fast == outcome(record.compact_json, dumped) == outcome(standard, dumped)


@settings(max_examples=500, deadline=None)
@given(
    values=st.lists(
        st.floats() | st.none() | st.sampled_from([1e-5, 1e-7, 1e16, 1e22, -0.0, 0.0001]), max_size=4
    ),
    text=st.text(max_size=20) | st.sampled_from(["0.00001", ":1e-05", "e-mail"]),
)
def test_model_text_is_the_standard_librarys(values: list[float | None], text: str) -> None:
    assert_as_standard(facts_with(values, text))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_float_is_refused_as_before(value: float) -> None:
    model = facts_with([value], "")
    with pytest.raises(ValueError):
        record._model_json(model, model.model_dump(mode="json"))


@pytest.mark.parametrize("value", [1e-5, 1e-7, 2.5e-300])
def test_a_tiny_float_is_spelled_as_json_spells_it(value: float) -> None:
    model = facts_with([value], "")
    assert record._model_json(model, model.model_dump(mode="json")) == standard(model.model_dump(mode="json"))
    assert repr(value) in record._model_json(model, model.model_dump(mode="json"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_assessments_and_facts_are_stored_as_json_writes_them(example: Path) -> None:
    engine = Engine(ROOT / "rules")
    facts = PatientFacts.model_validate_json(example.read_bytes())
    assessment = engine.assess(facts, ON)
    text = assessment_text(facts, assessment)
    assert text.facts_json == standard(facts.model_dump(mode="json"))
    assert text.assessment_json == standard(assessment.model_dump(mode="json"))


def test_float_fields_are_found_from_the_types() -> None:
    from ldncds.engine import Assessment

    assert record._float_fields(Assessment) == ("plan", "therapy")
    assert record._float_fields(Observation) == ("value_num",)
