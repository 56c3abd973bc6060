"""Gherkin steps for hard stops, cautions and exposure states, in clinician language.

These describe the records real EHRs send: diagnoses without a clinical status, orders stopped
without an end date, drafts, entries marked entered in error, injections given on a day, SNOMED-coded
medications, intolerances as opposed to allergies, and screens whose result could not be read.
"""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, then

from ldncds.bdd.steps import _CODE, _N, Chart, _add, _add_medication, _coding, _Rel


@given(parsers.re(rf"(?P<display>[^(]+) {_CODE} recorded {_N} ago with no clinical status"))
def step_condition_no_status(chart: Chart, display: str, system: str, code: str, n: str, unit: str) -> None:
    """An encounter diagnosis as billing-style records send it: a date, no clinicalStatus."""
    _add(
        chart,
        "conditions",
        {
            "source": chart.source("Condition"),
            "codes": _coding(system, code, display),
            "category": ["encounter-diagnosis"],
            "recorded_date": _Rel(int(n), unit),
        },
    )


@given(
    parsers.re(
        rf"(?P<display>[^(]+) {_CODE} with clinical status "
        rf"(?P<status>active|recurrence|relapse|inactive|remission|resolved), diagnosed {_N} ago"
    )
)
def step_condition_with_status(
    chart: Chart, display: str, system: str, code: str, n: str, unit: str, status: str
) -> None:
    _add(
        chart,
        "conditions",
        {
            "source": chart.source("Condition"),
            "codes": _coding(system, code, display),
            "clinical_status": status,
            "verification_status": "confirmed",
            "onset": _Rel(int(n), unit),
        },
    )


@given(
    parsers.re(
        r"an? (?P<status>draft|intended) (?P<display>[^(]+) (?:order|statement) \(RxNorm (?P<code>[^)]+)\)"
    )
)
def step_planned_medication(chart: Chart, status: str, display: str, code: str) -> None:
    draft = status == "draft"
    kind, record = ("MedicationRequest", "request") if draft else ("MedicationStatement", "statement")
    _add_medication(chart, display, code, status, _Rel(0, "days"), kind=kind, record=record)


@given(
    parsers.re(
        rf"(?P<display>[^(]+) \(RxNorm (?P<code>[^)]+)\) started {_N} ago, "
        r"marked (?P<mark>entered in error|cancelled|not taken)"
    )
)
def step_medication_set_aside(chart: Chart, display: str, code: str, n: str, unit: str, mark: str) -> None:
    status = {"entered in error": "entered-in-error", "not taken": "not-taken"}.get(mark, mark)
    _add_medication(chart, display, code, status, _Rel(int(n), unit))


@given(
    parsers.re(
        r"(?P<display>[^(]+) \(RxNorm (?P<code>[^)]+)\) recorded as (?P<status>stopped|completed) "
        r"with no start or end date"
    )
)
def step_medication_undated(chart: Chart, display: str, code: str, status: str) -> None:
    _add_medication(chart, display, code, status)


@given(
    parsers.re(
        r'a medication recorded only as text "(?P<text>[^"]+)" with status '
        r"(?P<status>stopped|completed|draft|intended|entered-in-error|unknown)"
        r"(?:, started (?P<n>\d+) (?P<unit>days?|weeks?|months?) ago)?(?P<rest>.*)"
    )
)
def step_text_medication_status(
    chart: Chart, status: str, text: str, n: str | None, unit: str | None, rest: str
) -> None:
    """A text-only entry in a given state; 'with no dates' leaves out both start and end."""
    med: dict[str, Any] = {
        "source": chart.source("MedicationStatement"),
        "text": text,
        "status": status,
    }
    if n and unit:
        med["start"] = _Rel(int(n), unit)
    elif "with no dates" not in rest:
        med["start"] = _Rel(0, "days")
    _add(chart, "medications", med)


@given(parsers.re(rf"(?P<display>[^(]+) \(RxNorm (?P<code>[^)]+)\) injected {_N} ago"))
def step_administration(chart: Chart, display: str, code: str, n: str, unit: str) -> None:
    """A MedicationAdministration: exposure on the day it was given."""
    day = _Rel(int(n), unit)
    _add_medication(
        chart,
        display,
        code,
        "completed",
        day,
        end=day,
        kind="MedicationAdministration",
        record="administration",
        end_basis="administration",
    )


@given(
    parsers.re(
        r"an active (?P<display>[^(]+) prescription \(RxNorm (?P<code>[^)]+)\) "
        r"at (?P<dose>[\d.]+) mg a day with no start date"
    )
)
def step_medication_no_start(chart: Chart, display: str, code: str, dose: str) -> None:
    _add_medication(chart, display, code, "active", dose=dose, kind="MedicationStatement")


@given(
    parsers.re(
        r"an active medication coded only as \((?P<system>SNOMED-CT|NDC|[a-z:/.]+) (?P<code>[^)]+)\) "
        r'"(?P<display>[^"]+)"(?: started (?P<n>\d+) (?P<unit>days?|weeks?|months?) ago)?'
    )
)
def step_medication_other_system(
    chart: Chart, system: str, code: str, display: str, n: str | None, unit: str | None
) -> None:
    system_uri = {"NDC": "http://hl7.org/fhir/sid/ndc"}.get(system, system)
    _add(
        chart,
        "medications",
        {
            "source": chart.source("MedicationRequest"),
            "codes": [{"system": system_uri, "code": code, "display": display}],
            "status": "active",
            "start": _Rel(int(n), unit) if n and unit else _Rel(30, "days"),
        },
    )


@given(
    parsers.re(
        rf"an active intolerance to (?P<display>[^(]+) {_CODE}"
        r"(?: of (?P<criticality>low|high) criticality)?"
    )
)
def step_intolerance(chart: Chart, display: str, system: str, code: str, criticality: str | None) -> None:
    allergy: dict[str, Any] = {
        "source": chart.source("AllergyIntolerance"),
        "codes": _coding(system, code, display),
        "type": "intolerance",
        "clinical_status": "active",
        "verification_status": "confirmed",
    }
    if criticality:
        allergy["criticality"] = criticality
    _add(chart, "allergies", allergy)


@given(parsers.re(r'an active intolerance recorded only as text "(?P<text>[^"]+)"'))
def step_text_intolerance(chart: Chart, text: str) -> None:
    _add(
        chart,
        "allergies",
        {
            "source": chart.source("AllergyIntolerance"),
            "text": text,
            "type": "intolerance",
            "clinical_status": "active",
        },
    )


@given(
    parsers.re(
        r"a final (?P<display>[^(]+) \(LOINC (?P<code>[^)]+)\) "
        r"(?P<n>\d+) (?P<unit>days?|weeks?|months?) ago whose result could not be read"
    )
)
def step_unreadable_result(chart: Chart, display: str, code: str, n: str, unit: str) -> None:
    _add(
        chart,
        "observations",
        {
            "source": chart.source("Observation"),
            "codes": _coding("LOINC", code, display),
            "status": "final",
            "value_text": "see scanned report",
            "effective": _Rel(int(n), unit),
        },
    )


@then(parsers.re(r'the answer does not say "(?P<text>[^"]+)"'))
def step_answer_omits(chart: Chart, text: str) -> None:
    """The words a clinician reads: the reason, hard-stop and caution titles, what would change it."""
    a = chart.assessment
    assert a is not None, "the scenario has no 'When the patient is assessed on ...' step"
    shown = [a.reason, *(h.title for h in a.hard_stops), *(c.title for c in a.cautions), *a.counterfactuals]
    said = [s for s in shown if text.lower() in s.lower()]
    assert not said, f"{text!r} is said in {said}"


@given(parsers.re(r"a positive (?P<display>[^(]+) \(LOINC (?P<code>[^)]+)\) with no date"))
def step_undated_positive(chart: Chart, display: str, code: str) -> None:
    _add(
        chart,
        "observations",
        {
            "source": chart.source("Observation"),
            "codes": _coding("LOINC", code, display),
            "status": "final",
            "result": "positive",
        },
    )
