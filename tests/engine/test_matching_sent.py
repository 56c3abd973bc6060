"""The durable matcher sends the C core only what can change a firing (DurableMatcher.sent).

Dropping facts of kinds a phase never reads, facts in no value set where every pattern of their
kind tests one, and fields no pattern tests makes the batch smaller; it must never change which
rule fires on which facts. Each test runs every evaluation twice, once as sent and once with every
fact whole, and compares the firings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

import ldncds.screening.runner as runner_module
from ldncds.engine import Engine, PatientFacts, load_ruleset
from ldncds.engine.matching import DurableMatcher, Firing
from ldncds.engine.vocabulary import Phase
from ldncds.screening import ScreenOptions, generate_population, screen_export
from support.patients import ON, patients

RULES = Path(__file__).resolve().parents[2] / "rules"


class _Compared(DurableMatcher):
    """Runs each phase as sent and with whole facts; records both."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.runs: list[tuple[list[Firing], list[Firing]]] = []
        self.dropped = 0

    def run(self, phase: Phase, facts: Sequence[dict[str, Any]]) -> list[Firing]:
        fired = super().run(phase, facts)
        sent = self.sent
        try:
            self.sent = lambda phase, facts: [dict(f) for f in facts]  # type: ignore[method-assign]
            whole = super().run(phase, facts)
        finally:
            self.sent = sent  # type: ignore[method-assign]
        self.runs.append((fired, whole))
        self.dropped += len(facts) - len(sent(phase, facts))
        return fired


@pytest.fixture(scope="module")
def compared() -> tuple[Engine, _Compared]:
    engine = Engine(load_ruleset(RULES))
    matcher = _Compared(engine.ruleset)
    engine.matcher = matcher
    return engine, matcher


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patients())
def test_generated_patients_fire_the_same(compared: tuple[Engine, _Compared], patient: PatientFacts) -> None:
    engine, matcher = compared
    matcher.runs.clear()
    engine.assess(patient, ON)
    assert matcher.runs and all(fired == whole for fired, whole in matcher.runs)


def test_a_synthetic_population_fires_the_same(
    compared: tuple[Engine, _Compared], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, matcher = compared
    generate_population(150, tmp_path, seed=11, on=date(2026, 3, 1))
    monkeypatch.setattr(runner_module, "engine_for", lambda *args: engine)
    matcher.runs.clear()
    matcher.dropped = 0
    options = ScreenOptions(evaluation_date=date(2026, 3, 1), workers=1, ruleset=engine.ruleset)
    summary = screen_export(tmp_path, options, lambda row: None, lambda bad: None)
    assert summary.patients == 150 and len(matcher.runs) >= 150
    assert all(got == whole for got, whole in matcher.runs)
    fired = sum(len(got) for got, _ in matcher.runs)
    assert fired > 300 and matcher.dropped > 0  # rules fired, and facts were dropped


def test_set_members_reach_the_c_core_as_one_property_each() -> None:
    # The C core never shares an $iany test between rules: membership is sent as properties.
    ruleset = load_ruleset(RULES)
    matcher = DurableMatcher(ruleset)
    text = repr(matcher.definitions)
    assert "$iany" not in text and "value_sets__opioid_agonists" in text
    fact = {"kind": "medication", "id": "m", "value_sets": ["opioid_agonists", "not_tested_anywhere"]}
    sent = matcher._members_as_properties("findings", fact)
    assert sent == {"kind": "medication", "id": "m", "value_sets__opioid_agonists": True}


def test_a_member_name_the_c_core_cannot_hold_is_refused() -> None:
    from ldncds.engine.matching import EngineError, member_property

    assert member_property("value_sets", "opioid") == "value_sets__opioid"
    with pytest.raises(EngineError):
        member_property("value_sets", "opioid.full")
