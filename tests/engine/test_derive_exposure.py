"""Derived facts behind the hard stops: what counts as identified, later, and recent."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ldncds.engine import PatientFacts, load_ruleset
from ldncds.engine.derive import derive

ROOT = Path(__file__).resolve().parents[2]
ON = date(2026, 3, 1)
SCREEN = [{"system": "LOINC", "code": "19295-5", "display": "Opiates [Presence] in Urine by Screen method"}]


@pytest.fixture(scope="module")
def valuesets():
    return load_ruleset(ROOT / "rules").valuesets


def _facts(valuesets, kind: str, **sections) -> list[dict]:
    derived = derive(PatientFacts.model_validate({"source": "Patient/t", **sections}), ON, valuesets)
    return [f for f in derived.facts if f["kind"] == kind]


def _screen(effective: str | None, result: str | None, status: str = "final") -> dict:
    body = {
        "source": f"Observation/{effective}-{result}",
        "codes": SCREEN,
        "status": status,
        "result": result,
    }
    return body | ({"effective": effective} if effective else {})


@pytest.mark.parametrize(
    ("positive", "negative", "lifted"),
    [
        ("2026-02-10", "2026-02-11", True),  # a later day
        ("2026-02-10", "2026-02-10", False),  # same day: order unknown
        ("2026-02-10", "2026-02-09", False),  # earlier
        ("2026-02", "2026-02-20", False),  # the positive may be as late as 28 February
        ("2026-01", "2026-02-01", True),
        ("2026-02-10", "2026-03-02", False),  # after the evaluation date: not yet known
    ],
)
def test_a_positive_screen_is_lifted_only_by_a_certainly_later_negative(
    valuesets, positive: str, negative: str, lifted: bool
) -> None:
    facts = _facts(
        valuesets, "observation", observations=[_screen(positive, "positive"), _screen(negative, "negative")]
    )
    assert facts[0]["later_negative"] is lifted


def test_a_preliminary_negative_lifts_nothing(valuesets) -> None:
    obs = [_screen("2026-02-10", "positive"), _screen("2026-02-12", "negative", status="preliminary")]
    assert _facts(valuesets, "observation", observations=obs)[0]["later_negative"] is False


@pytest.mark.parametrize(
    ("codes", "text", "identified"),
    [
        ([{"system": "RxNorm", "code": "308135", "display": "amlodipine 5 MG Oral Tablet"}], None, True),
        ([{"system": "SNOMED-CT", "code": "412307009", "display": "Drug product"}], None, False),
        ([{"system": "http://hl7.org/fhir/sid/ndc", "code": "0093-0058-01"}], None, False),
        ([{"system": "urn:oid:1.2.3", "code": "X1"}], "oxycodone 5 mg", True),  # the name is an opioid
        ([{"system": "SNOMED-CT", "code": "1", "display": "Oxycodone 5 mg tablet"}], None, True),
        ([], "vitamin D 1000 units", True),  # text only: identified by its name
        ([], None, False),
    ],
)
def test_only_rxnorm_or_a_recognised_name_identifies_a_medication(
    valuesets, codes: list[dict], text: str | None, identified: bool
) -> None:
    med = {"source": "MedicationRequest/m", "status": "active", "codes": codes} | (
        {"text": text} if text else {}
    )
    assert _facts(valuesets, "medication", medications=[med])[0]["identified"] is identified


def test_an_entry_in_error_is_kept_as_such_never_as_use(valuesets) -> None:
    med = {
        "source": "MedicationRequest/e",
        "status": "entered-in-error",
        "codes": [{"system": "RxNorm", "code": "1049621"}],
        "start": "2026-02-27",
    }
    [fact] = _facts(valuesets, "medication", medications=[med])
    assert fact["exposure"] == "entered_in_error" and "opioid_agonists" in fact["value_sets"]


@pytest.mark.parametrize(
    ("onset", "recorded", "days"),
    [(None, "2026-02-19", 10), ("2025-01-01", "2026-02-19", 10), ("2026-02-25", None, 4), (None, None, None)],
)
def test_a_record_is_as_recent_as_its_latest_date(valuesets, onset, recorded, days) -> None:
    condition = {"source": "Condition/c", "codes": [{"system": "ICD-10-CM", "code": "Z79.891"}]}
    condition |= {k: v for k, v in (("onset", onset), ("recorded_date", recorded)) if v}
    [fact] = _facts(valuesets, "condition", conditions=[condition])
    assert fact.get("days_since_recorded") == days
    assert fact["clinical"] == "unknown"


@pytest.mark.parametrize(
    ("status", "abatement", "abated", "clinical"),
    [
        ("active", None, False, "current"),
        ("active", "2026-02-01", True, "contradictory"),  # R4 con-4 broken: abated yet active
        ("relapse", "2026-02", True, "contradictory"),  # a partial date that has begun
        ("active", None, True, "contradictory"),  # abatementString: abated on a day not given
        ("active", "2026-03-02", True, "current"),  # an abatement still to come
        ("resolved", "2026-02-01", True, "not_current"),
        ("remission", None, False, "not_current"),
        (None, "2026-02-01", False, "not_current"),  # facts sent without the flag: the date says it
        (None, None, False, "unknown"),
    ],
)
def test_clinical_state_of_a_condition(valuesets, status, abatement, abated, clinical) -> None:
    condition = {
        "source": "Condition/c",
        "codes": [{"system": "ICD-10-CM", "code": "M79.7"}],
        "abated": abated,
    }
    condition |= {k: v for k, v in (("clinical_status", status), ("abatement", abatement)) if v}
    [fact] = _facts(valuesets, "condition", conditions=[condition])
    assert fact["clinical"] == clinical


@pytest.mark.parametrize(
    ("status", "record", "end", "basis", "trial"),
    [
        ("completed", "request", "2025-12-31", "supply", 60),  # all of the supply was taken
        ("stopped", "request", "2025-12-31", "supply", None),  # halted on a day not recorded
        ("stopped", "request", "2025-12-31", "recorded", None),  # a planned end (dosage bounds)
        ("stopped", "request", "2026-03-20", "supply", None),  # supply still running: not a trial either
        ("stopped", "statement", "2025-12-31", "recorded", 60),  # the patient's own stop date
        ("stopped", None, "2025-12-31", None, 60),  # facts sent with an end: the sender's record
        ("active", "request", None, None, 120),
        ("on-hold", "request", None, None, None),  # paused on a day not recorded
        ("on-hold", "statement", None, None, None),
    ],
)
def test_a_stopped_order_is_a_trial_of_unknown_length(valuesets, status, record, end, basis, trial) -> None:
    naproxen = {
        "source": "MedicationRequest/n",
        "codes": [{"system": "RxNorm", "code": "7258", "display": "naproxen"}],
        "status": status,
        "record": record,
        "start": "2025-11-01",
        "end": end,
        "end_basis": basis,
    }
    [fact] = _facts(valuesets, "medication", medications=[naproxen])
    assert fact.get("trial_days") == trial


def test_a_birth_date_after_the_evaluation_date_is_no_age_and_says_so(valuesets) -> None:
    facts = PatientFacts.model_validate({"source": "Patient/t", "birth_date": "2027-01-01"})
    derived = derive(facts, ON, valuesets)
    [patient] = [f for f in derived.facts if f["kind"] == "patient"]
    assert patient["birth_date_known"] is False and "age_min" not in patient
    assert derived.refs["patient"].detail == "born 2027-01-01, after the evaluation date: age unknown"
