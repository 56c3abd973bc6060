"""The text facts reach the C core in (fact_text) is the value the engine holds, and the core reads it so.

orjson's text is used only where it is the value json.dumps writes; every case it spells differently
falls back to json.dumps' own text. The core misreads a number whose exponent has no fraction
(1e-07 fired as if above 30, some such texts crash it), so every exponent is given one. The
durable matcher must then fire as the plain-Python oracle does on facts holding any float.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldncds.engine import Engine, PatientFacts, load_ruleset
from ldncds.engine.matching import Firing, OracleMatcher, _with_fractions, fact_text
from ldncds.engine.vocabulary import Phase
from support.patients import ON, patients

RULES = Path(__file__).resolve().parents[2] / "rules"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    return False


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_the_text_is_the_value_json_dumps_writes(value: Any) -> None:
    text = fact_text(value)
    if _has_non_finite(value):
        assert text == _with_fractions(json.dumps(value))  # json.dumps spells NaN, never null
    else:
        assert json.loads(text) == json.loads(json.dumps(value))
    assert _BARE_EXPONENT.search(_STRINGS.sub('""', text)) is None


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BARE_EXPONENT = re.compile(r"(?<![0-9.])-?[0-9]+[eE]")  # an exponent straight after the integer part


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e-07, "1.0e-7"),
        (1e16, "1.0e+16"),
        ([2e-300, 0.5, 1.5e300], "[2.0e-300,0.5,1.5e+300]"),
        ({"note": "1e5 2E3", "n": 1e22}, '{"note":"1e5 2E3","n":1.0e+22}'),  # strings stay as they are
        ({"t": "Brüning", "n": 1e-05}, '{"t": "Br\\u00fcning", "n": 1.0e-05}'),  # json.dumps' text, too
    ],
)
def test_every_exponent_has_a_fraction(value: Any, text: str) -> None:
    assert fact_text(value) == text


@pytest.mark.parametrize(
    "value",
    [
        {"kind": "x", "value": float("nan")},  # orjson: null
        {"kind": "x", "value": float("-inf")},  # orjson: null
        {"kind": "x", "value": None},  # null: cannot tell from NaN, so json.dumps decides
        {"kind": "x", "text": "Brüning"},  # orjson writes UTF-8, json.dumps escapes
        {"kind": "x", "value": 2**64},  # beyond orjson's integers
        {"kind": "x", "value": -(2**63) - 1},
    ],
    ids=["nan", "minus-infinity", "none", "non-ascii", "beyond-64-bits", "below-64-bits"],
)
def test_what_orjson_spells_differently_is_json_dumps_text(value: dict[str, Any]) -> None:
    assert fact_text(value) == json.dumps(value)  # none of these has an exponent to give a fraction


def test_ordinary_facts_take_the_fast_text() -> None:
    fact = {"kind": "pain", "id": "pain:1", "days": 120, "ratio": 0.5, "coded": True, "value_sets": ["a"]}
    assert fact_text(fact) == json.dumps(fact, separators=(",", ":"))


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_ruleset(RULES))


def _phase_facts(engine: Engine, patient: PatientFacts) -> list[tuple[Phase, list[dict[str, Any]]]]:
    """The facts each phase of an assessment of this patient hands the matcher."""
    recorded: list[tuple[Phase, list[dict[str, Any]]]] = []
    matcher = engine.matcher

    class Recorder:
        def run(self, phase: Phase, facts: Sequence[dict[str, Any]]) -> list[Firing]:
            recorded.append((phase, [dict(f) for f in facts]))
            return matcher.run(phase, facts)

    engine.matcher = Recorder()  # type: ignore[assignment]
    try:
        engine.assess(patient, ON)
    finally:
        engine.matcher = matcher
    return recorded


def _renumbered(facts: list[dict[str, Any]], number: float) -> list[dict[str, Any]]:
    """Every number a pattern could test becomes `number` (booleans stay booleans)."""
    return [
        {k: number if isinstance(v, int | float) and not isinstance(v, bool) else v for k, v in f.items()}
        for f in facts
    ]


finite_floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1e-07, 1e16, -1e-09, 2e-300, 5e-324, 1e22, 1.7976931348623157e308, 17.999999999999996, 18.0]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patients(), finite_floats)
def test_durable_fires_as_the_oracle_on_any_float(
    engine: Engine, patient: PatientFacts, number: float
) -> None:
    oracle = OracleMatcher(engine.ruleset)
    for phase, facts in _phase_facts(engine, patient):
        changed = _renumbered(facts, number)
        assert engine.matcher.run(phase, changed) == oracle.run(phase, changed), (phase, number)


def test_a_tiny_egfr_is_read_as_severe_renal_impairment(engine: Engine) -> None:
    # eGFR 0.0000001 (a float Python writes as 1e-07) was read by the core as above the threshold.
    oracle = OracleMatcher(engine.ruleset)
    fact = {
        "kind": "observation",
        "id": "o0",
        "value_sets": ["lab_egfr"],
        "latest_in": ["lab_egfr"],
        "usable": True,
        "days_since": 28,
        "later_negative": False,
    }
    for value in (1e-07, 0.0000001, 1e-05, 25.0):
        read = dict(fact, value_num=value, value_max=value, value_min=value)
        fired = {f.rule_id for f in engine.matcher.run("findings", [read])}
        assert "CAUT-RENAL-03" in fired
        assert engine.matcher.run("findings", [read]) == oracle.run("findings", [read])
