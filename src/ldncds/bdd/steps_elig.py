"""Gherkin steps for the eligibility scenarios of issue 18 (trial lengths, encounter diagnoses, eGFR).

They extend the step library in `ldncds.bdd.steps` with the chart entries those scenarios need and
one outcome check: which fact, with which detail, a criterion was decided from.
"""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, then

from ldncds.bdd.steps import _CODE, _N, Chart, _add, _coding, _done, _Rel


@given(
    parsers.re(
        rf"(?P<display>[^(]+) {_CODE} recorded as an encounter diagnosis {_N} ago with no clinical status"
    )
)
def step_encounter_diagnosis(chart: Chart, display: str, system: str, code: str, n: str, unit: str) -> None:
    """A billing-style diagnosis: confirmed, dated, but with no clinicalStatus (FHIR allows it)."""
    condition: dict[str, Any] = {
        "source": chart.source("Condition"),
        "codes": _coding(system, code, display),
        "text": display.strip(),
        "category": ["encounter-diagnosis"],
        "verification_status": "confirmed",
        "onset": _Rel(int(n), unit),
        "recorded_date": _Rel(int(n), unit),
    }
    _add(chart, "conditions", condition)


@given(parsers.re(rf"an intolerance to (?P<display>[^(]+) {_CODE} is recorded"))
def step_intolerance(chart: Chart, display: str, system: str, code: str) -> None:
    """An AllergyIntolerance of type intolerance (a non-immune adverse reaction)."""
    _add(
        chart,
        "allergies",
        {
            "source": chart.source("AllergyIntolerance"),
            "codes": _coding(system, code, display),
            "type": "intolerance",
            "clinical_status": "active",
            "verification_status": "confirmed",
        },
    )


@then(parsers.re(r'criterion (?P<criterion>[a-z_]+) is decided from "(?P<text>[^"]+)"'))
def step_criterion_fact(chart: Chart, criterion: str, text: str) -> None:
    """The criterion's winning explanation cites a fact whose name or detail shows `text`."""
    found = {c.id: c for c in _done(chart).criteria}
    assert criterion in found, f"no criterion {criterion}; criteria are {sorted(found)}"
    cited = [
        f"{f.display} ({f.detail or ''}) [{f.source}]" for e in found[criterion].explanations for f in e.facts
    ]
    assert any(text.lower() in c.lower() for c in cited), f"{text!r} not shown; {criterion} cites {cited}"
