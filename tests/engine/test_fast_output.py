"""The engine builds its output parts without validating them again (`built`): the same assessment,
to the byte, as the validated path (`validating()`), on generated patients and on every example."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from ldncds.engine import Engine, PatientFacts
from ldncds.engine import assess as assess_mod
from ldncds.engine import assessment as assessment_mod
from ldncds.engine.assessment import Assessment, CriterionResult, Explanation, built, validating
from support.patients import ON, patients

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(ROOT / "rules")


def text(model: BaseModel) -> str:
    """The log's spelling, by its definition (the standard library), field order included."""
    dumped = model.model_dump(mode="json")
    return json.dumps(dumped, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def both(engine: Engine, facts: PatientFacts, on: date, **kw: Any) -> tuple[Assessment, Assessment]:
    fast = engine.assess(facts, on, **kw)
    with validating():
        slow = engine.assess(facts, on, **kw)
    return fast, slow


def assert_same(fast: Assessment, slow: Assessment) -> None:
    assert text(fast) == text(slow)
    assert text(Assessment.model_validate(fast.model_dump())) == text(fast)  # a valid assessment
    assert fast.criteria and type(fast.criteria[0]) is CriterionResult


@settings(max_examples=400, deadline=None, suppress_health_check=HEALTH)
@given(patient=patients(), days=st.integers(min_value=-400, max_value=400))
def test_fast_parts_equal_validated_parts(engine: Engine, patient: PatientFacts, days: int) -> None:
    on = date.fromordinal(ON.toordinal() + days)
    assert_same(*both(engine, patient, on))


@settings(max_examples=100, deadline=None, suppress_health_check=HEALTH)
@given(patient=patients())
def test_screening_detail_equal_validated(engine: Engine, patient: PatientFacts) -> None:
    assert_same(*both(engine, patient, ON, detail="decision"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_equal_validated(engine: Engine, example: Path) -> None:
    facts = PatientFacts.model_validate_json(example.read_bytes())
    for on in (ON, date(2026, 12, 2)):
        assert_same(*both(engine, facts, on))


def test_built_is_the_model_construct_of_the_same_values() -> None:
    values: dict[str, Any] = {
        "rule_id": "r",
        "rule_version": "1",
        "title": "t",
        "statement": "s",
        "rationale": "why",
    }
    fast = built(Explanation, **values)
    assert text(fast) == text(Explanation(**values)) == text(Explanation.model_construct(**values))
    assert fast.model_fields_set == set(values)
    assert fast.facts == [] and fast.facts is not built(Explanation, **values).facts  # own default list
    with pytest.raises(ValueError, match="rationale"):
        built(Explanation, **{k: v for k, v in values.items() if k != "rationale"})  # validation says why
    with pytest.raises(ValueError, match="extra"):
        built(Explanation, **values, unknown=1)


def fast_only(drift: Any) -> Any:
    """`built` with `drift` applied to what the fast path builds (the validated path is left alone)."""

    def drifted(cls: type[BaseModel], /, **values: Any) -> BaseModel:
        obj = built(cls, **values)
        return obj if assessment_mod._VALIDATE.get() else drift(cls, obj, values)

    return drifted


def _reordered(cls: type[BaseModel], obj: BaseModel, values: dict[str, Any]) -> BaseModel:
    object.__setattr__(obj, "__dict__", dict(reversed(obj.__dict__.items())))
    return obj


def _lists_lost(cls: type[BaseModel], obj: BaseModel, values: dict[str, Any]) -> BaseModel:
    return built(cls, **{k: v for k, v in values.items() if not isinstance(v, list)})


@pytest.mark.parametrize("drift", [_reordered, _lists_lost])
def test_the_comparison_catches_a_drifted_fast_path(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, drift: Any
) -> None:
    """A fast path that wrote its fields in another order (the serialiser follows the instance's
    dict) or lost given values fails the comparison above."""
    facts = PatientFacts.model_validate_json((ROOT / "examples" / "candidate.json").read_bytes())
    monkeypatch.setattr(assess_mod, "built", fast_only(drift))
    fast, slow = both(engine, facts, ON)
    with pytest.raises(AssertionError):
        assert_same(fast, slow)
