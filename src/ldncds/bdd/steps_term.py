"""Gherkin steps for real EHR lab results: a urine drug test reported the way the laboratory wrote
it (a result string, or an HL7 interpretation code), read by the same FHIR adapter as live data."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers

from ldncds.bdd.steps import _N, Chart, _add, _Rel
from ldncds.fhir.adapter import facts_from_resources

_INTERPRETATION_SYSTEMS = {
    "HL7 v2 table 0078": "http://terminology.hl7.org/CodeSystem/v2-0078",
    "HL7 v3 ObservationInterpretation": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
}


def _lab(chart: Chart, display: str, code: str, n: str, unit: str, value: dict[str, Any]) -> None:
    resource = {
        "resourceType": "Observation",
        "id": "lab",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": code.strip(), "display": display.strip()}]
        },
        **value,
    }
    (mapped,) = facts_from_resources(None, {"observations": [resource]}).facts.observations or []
    item = mapped.model_dump(exclude_none=True, mode="json")
    item |= {"source": chart.source("Observation"), "effective": _Rel(int(n), unit)}
    _add(chart, "observations", item)


@given(
    parsers.re(rf'an? (?P<display>[^(]+) \(LOINC (?P<code>[^)]+)\) reported as "(?P<text>[^"]+)" {_N} ago')
)
def step_lab_reported_as(chart: Chart, display: str, code: str, text: str, n: str, unit: str) -> None:
    _lab(chart, display, code, n, unit, {"valueString": text})


@given(
    parsers.re(
        rf"an? (?P<display>[^(]+) \(LOINC (?P<code>[^)]+)\) flagged (?P<flag>[A-Z]+) in the "
        rf"(?P<table>HL7 v2 table 0078|HL7 v3 ObservationInterpretation) {_N} ago"
    )
)
def step_lab_flagged(chart: Chart, display: str, code: str, flag: str, table: str, n: str, unit: str) -> None:
    coding = {"system": _INTERPRETATION_SYSTEMS[table], "code": flag}
    _lab(chart, display, code, n, unit, {"interpretation": [{"coding": [coding]}]})
