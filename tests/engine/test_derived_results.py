"""What derive computes for the rest of the engine: result series, data notes, incomplete sections."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ldncds.engine import PatientFacts, ValueSets, derive, load_ruleset
from ldncds.engine.derive import Derived, Point, Result

ROOT = Path(__file__).resolve().parents[2]
ON = date(2026, 3, 1)
NRS = [{"system": "LOINC", "code": "72514-3", "display": "Pain severity 0-10"}]


@pytest.fixture(scope="module")
def valuesets() -> ValueSets:
    return load_ruleset(ROOT / "rules").valuesets


def _derive(valuesets: ValueSets, **body: Any) -> Derived:
    return derive(PatientFacts.model_validate({"source": "Patient/t", **body}), ON, valuesets)


def _nrs(source: str, effective: str | None, value: float | None, status: str = "final") -> dict[str, Any]:
    return {"source": source, "codes": NRS, "status": status, "effective": effective, "value_num": value}


def test_results_are_the_usable_dated_results_up_to_the_evaluation_date_oldest_first(
    valuesets: ValueSets,
) -> None:
    observations = [
        _nrs("Observation/b", "2026-02-01", 5.0),
        _nrs("Observation/a", "2026-02-01", 6.0),  # same day: ordered by source
        _nrs("Observation/older", "2025-12", 7.0),  # a month: its last day
        _nrs("Observation/text", "2026-02-10", None),  # no number: a result, not a point
        _nrs("Observation/prelim", "2026-02-11", 4.0, status="preliminary"),
        _nrs("Observation/error", "2026-02-12", 4.0, status="entered-in-error"),
        _nrs("Observation/future", "2026-03-02", 3.0),
        _nrs("Observation/undated", None, 3.0),
    ]
    derived = _derive(valuesets, observations=observations)
    assert derived.results_in("instrument_pain_nrs") == (
        Result(date(2025, 12, 31), 7.0, "Observation/older"),
        Result(date(2026, 2, 1), 6.0, "Observation/a"),
        Result(date(2026, 2, 1), 5.0, "Observation/b"),
        Result(date(2026, 2, 10), None, "Observation/text"),
    )
    assert derived.series("instrument_pain_nrs") == [
        Point(date(2025, 12, 31), 7.0, "Observation/older"),
        Point(date(2026, 2, 1), 6.0, "Observation/a"),
        Point(date(2026, 2, 1), 5.0, "Observation/b"),
    ]
    assert derived.results_in("lab_tsh") == () and derived.series("instrument_odi") == []


def test_no_observations_section_means_no_results(valuesets: ValueSets) -> None:
    assert _derive(valuesets).results_in("instrument_pain_nrs") == ()


@pytest.mark.parametrize(
    ("severity", "section", "complete"),
    [("unreadable", "observations", False), ("caveat", "observations", True), ("unreadable", None, True)],
)
def test_a_record_that_could_not_be_read_leaves_its_section_incomplete_and_is_named(
    valuesets: ValueSets, severity: str, section: str | None, complete: bool
) -> None:
    note = {"source": "Observation/bad", "section": section, "reason": "not valid FHIR", "severity": severity}
    derived = _derive(valuesets, observations=[], medications=[], notes=[note])
    records = {f["section"]: f for f in derived.facts if f["kind"] == "record"}
    assert records["observations"]["complete"] is complete
    assert records["medications"]["complete"] is True  # another section is not touched
    assert [n.source for n in derived.notes] == ["Observation/bad"]


def test_a_section_said_incomplete_stays_incomplete(valuesets: ValueSets) -> None:
    derived = _derive(valuesets, medications=[], incomplete=["medications"])
    records = {f["section"]: f for f in derived.facts if f["kind"] == "record"}
    assert records["medications"]["complete"] is False


def test_what_derive_computed_cannot_be_changed_afterwards(valuesets: ValueSets) -> None:
    derived = _derive(valuesets, observations=[_nrs("Observation/a", "2026-02-01", 6.0)])
    with pytest.raises(dataclasses.FrozenInstanceError):
        derived.notes = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        derived.results["instrument_pain_nrs"] = ()  # type: ignore[index]
