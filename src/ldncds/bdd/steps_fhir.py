"""Gherkin steps for FHIR records as EHRs send them (features/fhir_records.feature).

The chart is written as FHIR R4 resources (dates relative to the evaluation date), grouped by CDS
Hooks prefetch key, and read exactly as a hook request is read: prefetch keys -> the FHIR adapter ->
patient facts -> the engine. The outcome steps of `ldncds.bdd.steps` then apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from ldncds.bdd.steps import Chart, _done, scenario_engine
from ldncds.cdshooks.prefetch import PREFETCH_KEYS, Gathered
from ldncds.fhir import MISSING, facts_from_resources

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
PATIENT = {"reference": "Patient/fhir-scenario"}
_DAYS = r"(?P<n>\d+) days? ago"
_DRUG = r"(?P<display>[^(]+) \(RxNorm (?P<code>[^)]+)\)"
_DIAGNOSIS_CODE = r"(?P<display>[^(]+) \(ICD-10-CM (?P<code>[^)]+)\)"


@dataclass
class FhirChart:
    """Resources per prefetch key; a date is (days before the evaluation date) until assessed."""

    keys: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)
    counter: int = 0
    site_timezone: str = "UTC"  # explicit, so a scenario never depends on the machine's settings

    def add(self, key: str, resource: dict[str, Any]) -> None:
        self.counter += 1
        resource.setdefault("id", f"{resource['resourceType'].lower()}-{self.counter}")
        entries = self.keys.setdefault(key, [])
        assert entries is not None, f"the scenario said {key} is not sent"
        entries.append(resource)


@pytest.fixture
def fhir_chart() -> FhirChart:
    return FhirChart()


def _ago(n: str | int, time: str = "") -> tuple[str, int, str]:
    """A date n days before the evaluation date; `time` ("T20:00:00-10:00") makes it a dateTime."""
    return ("ago", int(n), time)


def _dated(value: Any, on: date) -> Any:
    if isinstance(value, tuple) and value[:1] == ("ago",):
        return (on - timedelta(days=value[1])).isoformat() + value[2]
    if isinstance(value, dict):
        return {k: _dated(v, on) for k, v in value.items()}
    if isinstance(value, list):
        return [_dated(v, on) for v in value]
    return value


def _drug(display: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": RXNORM, "code": code.strip(), "display": display.strip()}], "text": display}


def _days(n: str | int) -> dict[str, Any]:
    return {"value": int(n), "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}


# ------------------------------------------------------------------ the chart, as FHIR


@given(
    "a FHIR record of a 52-year-old woman with fibromyalgia for 2 years who has tried physical therapy, "
    "naproxen and duloxetine"
)
def step_fhir_candidate(fhir_chart: FhirChart) -> None:
    fhir_chart.keys["patient"] = [
        {
            "resourceType": "Patient",
            "id": "fhir-scenario",
            "gender": "female",
            "birthDate": _ago(52 * 365 + 40),
        }
    ]
    fhir_chart.add("conditions", {
        "resourceType": "Condition", "subject": PATIENT, "onsetDateTime": _ago(730),
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "verificationStatus": {"coding": [{"code": "confirmed"}]},
        "code": {"coding": [{"system": ICD10, "code": "M79.7", "display": "Fibromyalgia"}]},
    })  # fmt: skip
    for display, code, status, days in (
        ("naproxen", "7258", "completed", 600),
        ("duloxetine", "72625", "completed", 400),
    ):
        fhir_chart.add("medications", {
            "resourceType": "MedicationRequest", "status": status, "intent": "order", "subject": PATIENT,
            "medicationCodeableConcept": _drug(display, code), "authoredOn": _ago(days),
            "dispenseRequest": {"expectedSupplyDuration": _days(90)},
        })  # fmt: skip
    fhir_chart.add("procedures", {
        "resourceType": "Procedure", "status": "completed", "subject": PATIENT,
        "performedDateTime": _ago(300),
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "97161",
                             "display": "Physical therapy evaluation"}]},
    })  # fmt: skip
    for key in ("allergies", "observations", "medicationStatements", "medicationDispenses",
                "medicationAdministrations", "serviceRequests", "appointments"):  # fmt: skip
        fhir_chart.keys.setdefault(key, [])


@given(parsers.re(rf"her (?P<drug>naproxen|duloxetine) order was (?P<halt>stopped|put on hold)(?:, authored "
                  rf"{_DAYS} with a (?P<supply>\d+)-day supply)?"))  # fmt: skip
def step_background_order_halted(
    fhir_chart: FhirChart, drug: str, halt: str, n: str | None, supply: str | None
) -> None:
    orders = [
        r for r in fhir_chart.keys["medications"] or [] if r["medicationCodeableConcept"]["text"] == drug
    ]
    assert len(orders) == 1, f"the background has one {drug} order"
    orders[0]["status"] = "stopped" if halt == "stopped" else "on-hold"
    if n is not None and supply is not None:
        orders[0]["authoredOn"] = _ago(n)
        orders[0]["dispenseRequest"] = {"expectedSupplyDuration": _days(supply)}


@given("the site sends no MedicationStatement, MedicationDispense or MedicationAdministration records")
def step_no_statements(fhir_chart: FhirChart) -> None:
    for key in ("medicationStatements", "medicationDispenses", "medicationAdministrations"):
        fhir_chart.keys.pop(key, None)


_DISPENSE = rf"a MedicationDispense of {_DRUG} handed over {_DAYS} with a (?P<supply>\d+)-day supply"


@given(parsers.re(_DISPENSE))
def step_dispense(fhir_chart: FhirChart, display: str, code: str, n: str, supply: str) -> None:
    fhir_chart.add("medicationDispenses", {
        "resourceType": "MedicationDispense", "status": "completed", "subject": PATIENT,
        "medicationCodeableConcept": _drug(display, code), "whenHandedOver": _ago(n),
        "daysSupply": _days(supply),
    })  # fmt: skip


@given(
    parsers.re(rf"a MedicationAdministration of (?P<display>[^(]+) \(RxNorm (?P<code>[^)]+)\) given {_DAYS}")
)
def step_administration(fhir_chart: FhirChart, display: str, code: str, n: str) -> None:
    fhir_chart.add("medicationAdministrations", {
        "resourceType": "MedicationAdministration", "status": "completed", "subject": PATIENT,
        "medicationCodeableConcept": _drug(display, code), "effectiveDateTime": _ago(n),
    })  # fmt: skip


@given(parsers.re(rf"a MedicationAdministration of {_DRUG} given {_DAYS} at (?P<time>\d\d:\d\d) "
                  r"(?P<offset>[+-]\d\d:\d\d) local time"))  # fmt: skip
def step_administration_at(
    fhir_chart: FhirChart, display: str, code: str, n: str, time: str, offset: str
) -> None:
    fhir_chart.add("medicationAdministrations", {
        "resourceType": "MedicationAdministration", "status": "completed", "subject": PATIENT,
        "medicationCodeableConcept": _drug(display, code),
        "effectiveDateTime": _ago(n, f"T{time}:00{offset}"),
    })  # fmt: skip


LOINC = "http://loinc.org"
_ITEM9 = r"a (?P<prelim>preliminary )?PHQ-9 item 9 Observation \(LOINC 44260-8\) "


def _item9(fhir_chart: FhirChart, n: str | None, value: dict[str, Any], prelim: str | None = None) -> None:
    """Item 9 answered n days ago (None: the record has no date)."""
    fhir_chart.add("observations", {
        "resourceType": "Observation", "status": "preliminary" if prelim else "final", "subject": PATIENT,
        "code": {"coding": [{"system": LOINC, "code": "44260-8"}]}, "valueCodeableConcept": value,
        **({"effectiveDateTime": _ago(n)} if n is not None else {}),
    })  # fmt: skip


@given(parsers.re(_ITEM9 + rf'answered with LOINC (?P<code>LA[0-9-]+) "(?P<display>[^"]+)" {_DAYS}'))
def step_item9_loinc_answer(
    fhir_chart: FhirChart, prelim: str | None, code: str, display: str, n: str
) -> None:
    _item9(fhir_chart, n, {"coding": [{"system": LOINC, "code": code, "display": display}]}, prelim)


@given(parsers.re(_ITEM9 + r'answered with LOINC (?P<code>LA[0-9-]+) "(?P<display>[^"]+)" and no date'))
def step_item9_undated(fhir_chart: FhirChart, prelim: str | None, code: str, display: str) -> None:
    _item9(fhir_chart, None, {"coding": [{"system": LOINC, "code": code, "display": display}]}, prelim)


@given(parsers.re(_ITEM9 + rf'answered in text only as "(?P<text>[^"]+)" {_DAYS}'))
def step_item9_text_answer(fhir_chart: FhirChart, prelim: str | None, text: str, n: str) -> None:
    _item9(fhir_chart, n, {"text": text}, prelim)


@given(
    parsers.re(_ITEM9 + rf"answered with a local code the form scores (?P<score>\d+) (?:{_DAYS}|and no date)")
)
def step_item9_scored_answer(fhir_chart: FhirChart, prelim: str | None, score: str, n: str | None) -> None:
    ordinal = {"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": int(score)}
    coding = {"system": "http://example.org/phq-answers", "code": "A2", "extension": [ordinal]}
    _item9(fhir_chart, n, {"coding": [coding]}, prelim)


def _egfr(fhir_chart: FhirChart, n: str | None, value: dict[str, Any]) -> None:
    """An eGFR taken n days ago (None: the record has no date)."""
    fhir_chart.add("observations", {
        "resourceType": "Observation", "status": "final", "subject": PATIENT,
        "code": {"coding": [{"system": LOINC, "code": "98979-8"}]}, **value,
        **({"effectiveDateTime": _ago(n)} if n is not None else {}),
    })  # fmt: skip


@given(parsers.re(rf'an eGFR Observation \(LOINC 98979-8\) with the text "(?P<text>[^"]+)" {_DAYS}'))
def step_egfr_text(fhir_chart: FhirChart, text: str, n: str) -> None:
    _egfr(fhir_chart, n, {"valueString": text})


@given(parsers.re(rf"an eGFR Observation \(LOINC 98979-8\) of (?P<cmp><=|>=|<|>)?(?P<value>[\d.]+) "
                  rf"(?P<ucum>\S+) (?:{_DAYS}|with no date)"))  # fmt: skip
def step_egfr_quantity(fhir_chart: FhirChart, cmp: str | None, value: str, ucum: str, n: str | None) -> None:
    quantity: dict[str, Any] = {"value": float(value), "system": "http://unitsofmeasure.org", "code": ucum}
    if cmp:
        quantity["comparator"] = cmp
    _egfr(fhir_chart, n, {"valueQuantity": quantity})


@given(parsers.re(r"the site's time zone is (?P<zone>[A-Za-z_/+-]+)"))
def step_site_zone(fhir_chart: FhirChart, zone: str) -> None:
    fhir_chart.site_timezone = zone


@given(parsers.re(rf"a (?P<status>stopped|completed) MedicationRequest for (?P<display>[^(]+) \(RxNorm "
                  rf"(?P<code>[^)]+)\) authored {_DAYS} with no end date and no supply"))  # fmt: skip
def step_request_no_end(fhir_chart: FhirChart, status: str, display: str, code: str, n: str) -> None:
    fhir_chart.add("medications", {
        "resourceType": "MedicationRequest", "status": status, "intent": "order", "subject": PATIENT,
        "medicationCodeableConcept": _drug(display, code), "authoredOn": _ago(n),
    })  # fmt: skip


_REFILLS = (
    rf"a (?P<status>stopped|completed) MedicationRequest for {_DRUG} authored {_DAYS} with a "
    r"(?P<supply>\d+)-day supply and (?P<refills>\d+) refills?(?: valid for (?P<valid>\d+) days)?"
)


@given(parsers.re(_REFILLS))
def step_request_refills(
    fhir_chart: FhirChart, status: str, display: str, code: str, n: str, supply: str, refills: str,
    valid: str | None,
) -> None:  # fmt: skip
    dispense: dict[str, Any] = {
        "expectedSupplyDuration": _days(supply),
        "numberOfRepeatsAllowed": int(refills),
    }
    if valid:
        dispense["validityPeriod"] = {"start": _ago(n), "end": _ago(int(n) - int(valid))}
    fhir_chart.add("medications", {
        "resourceType": "MedicationRequest", "status": status, "intent": "order", "subject": PATIENT,
        "medicationCodeableConcept": _drug(display, code), "authoredOn": _ago(n), "dispenseRequest": dispense,
    })  # fmt: skip


def _daily(mg: str, repeat: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "timing": {"repeat": repeat or {"frequency": 1, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [{"doseQuantity": {"value": float(mg), "unit": "mg", "system": "http://unitsofmeasure.org",
                                          "code": "mg"}}],
    }  # fmt: skip


def _naltrexone_order(fhir_chart: FhirChart, dosages: list[dict[str, Any]]) -> None:
    fhir_chart.add("medications", {
        "resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": PATIENT,
        "medicationCodeableConcept": _drug("naltrexone", "7243"), "authoredOn": _ago(20),
        "dosageInstruction": dosages,
    })  # fmt: skip


@given(parsers.re(r"an active naltrexone order \(RxNorm 7243\) of (?P<mg>[\d.]+) mg once a day"))
def step_naltrexone_daily(fhir_chart: FhirChart, mg: str) -> None:
    _naltrexone_order(fhir_chart, [_daily(mg)])


@given(parsers.re(r"an active naltrexone order \(RxNorm 7243\) with two dosage instructions, "
                  r"(?P<first>[\d.]+) mg and (?P<second>[\d.]+) mg once a day"))  # fmt: skip
def step_naltrexone_two_dosages(fhir_chart: FhirChart, first: str, second: str) -> None:
    _naltrexone_order(fhir_chart, [_daily(first), _daily(second)])


@given(parsers.re(r"an active naltrexone order \(RxNorm 7243\) of (?P<mg>[\d.]+) mg in the morning "
                  r"and at bedtime, once a day"))  # fmt: skip
def step_naltrexone_two_times(fhir_chart: FhirChart, mg: str) -> None:
    repeat = {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["MORN", "HS"]}
    _naltrexone_order(fhir_chart, [_daily(mg, repeat)])


_DIAGNOSIS = rf"an encounter diagnosis of {_DIAGNOSIS_CODE} recorded {_DAYS} without a clinical status"


@given(parsers.re(_DIAGNOSIS))
def step_encounter_diagnosis(fhir_chart: FhirChart, display: str, code: str, n: str) -> None:
    fhir_chart.add("conditions", {
        "resourceType": "Condition", "subject": PATIENT, "recordedDate": _ago(n),
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                  "code": "encounter-diagnosis"}]}],
        "code": {"coding": [{"system": ICD10, "code": code.strip(), "display": display.strip()}]},
    })  # fmt: skip


_ABATEMENT = r"an abatement (?:dated (?P<n>\d+) days? ago|as text \"(?P<text>[^\"]+)\")"


def _abatement(n: str | None, text: str | None) -> dict[str, Any]:
    return {"abatementDateTime": _ago(n)} if n is not None else {"abatementString": text}


@given(
    parsers.re(
        rf"her fibromyalgia Condition (?:has clinical status (?P<status>[a-z]+) and )?records {_ABATEMENT}"
    )
)
def step_fibromyalgia_abated(
    fhir_chart: FhirChart, status: str | None, n: str | None, text: str | None
) -> None:
    conditions = fhir_chart.keys["conditions"]
    assert conditions, "the background's record has no conditions"
    fibromyalgia = conditions[0]  # the background's
    fibromyalgia.update(_abatement(n, text))
    if status:
        fibromyalgia["clinicalStatus"] = {"coding": [{"code": status}]}


@given(parsers.re(r"her fibromyalgia Condition was recorded (?P<n>\d+) days? ago"))
def step_fibromyalgia_recorded(fhir_chart: FhirChart, n: str) -> None:
    conditions = fhir_chart.keys["conditions"]
    assert conditions, "the background's record has no conditions"
    conditions[0]["recordedDate"] = _ago(n)  # the background's, with its onset 730 days ago


@given(
    parsers.re(rf"a Condition of {_DIAGNOSIS_CODE} with clinical status (?P<status>[a-z]+) and {_ABATEMENT}")
)
def step_condition_abated(
    fhir_chart: FhirChart, display: str, code: str, status: str, n: str | None, text: str | None
) -> None:
    fhir_chart.add("conditions", {
        "resourceType": "Condition", "subject": PATIENT, "onsetDateTime": _ago(1500),
        "clinicalStatus": {"coding": [{"code": status}]},
        "verificationStatus": {"coding": [{"code": "confirmed"}]},
        "code": {"coding": [{"system": ICD10, "code": code.strip(), "display": display.strip()}]},
        **_abatement(n, text),
    })  # fmt: skip


@given(
    parsers.re(
        r"her Patient record gives a (?:date of death (?P<n>\d+) days? "
        r"(?P<side>ago|after the evaluation date)|year of death (?P<year>\d{4}))"
    )
)
def step_date_of_death(fhir_chart: FhirChart, n: str | None, side: str | None, year: str | None) -> None:
    [patient] = fhir_chart.keys["patient"] or []
    patient["deceasedDateTime"] = year or _ago(int(n or 0) * (1 if side == "ago" else -1))


_DUPLICATES = (
    r"two MedicationRequests with the same id and no version: a completed (?P<first>[^(]+) "
    r"\(RxNorm (?P<c1>[^)]+)\) and an active (?P<second>[^(]+) \(RxNorm (?P<c2>[^)]+)\)"
)


@given(parsers.re(_DUPLICATES))
def step_conflicting_duplicates(fhir_chart: FhirChart, first: str, c1: str, second: str, c2: str) -> None:
    for display, code, status, days in ((first, c1, "completed", 900), (second, c2, "active", 10)):
        fhir_chart.add("medications", {
            "resourceType": "MedicationRequest", "id": "mr-same", "status": status, "intent": "order",
            "subject": PATIENT, "medicationCodeableConcept": _drug(display, code), "authoredOn": _ago(days),
        })  # fmt: skip


# ------------------------------------------------------------------ reading and assessing


@when(parsers.re(r"the FHIR record is read and assessed on (?P<day>\d{4}-\d{2}-\d{2})"))
def step_read_and_assess(fhir_chart: FhirChart, chart: Chart, day: str) -> None:
    on = date.fromisoformat(day)
    gathered = Gathered()
    for key in PREFETCH_KEYS:
        resources = fhir_chart.keys.get(key.key, MISSING)
        if resources is MISSING or resources is None:
            gathered.values[key.key] = resources
        elif key.is_read:
            gathered.values[key.key] = _dated(resources[0], on)
        else:
            entries = [{"resource": _dated(r, on)} for r in resources]
            gathered.values[key.key] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    given_input = gathered.adapter_input()
    result = facts_from_resources(
        given_input.patient,
        given_input.sections,
        patient_id="fhir-scenario",
        site_timezone=fhir_chart.site_timezone,
    )
    facts = result.facts.model_copy(update={"notes": [*given_input.notes, *result.facts.notes]})
    chart.assessment = scenario_engine().assess(facts, on)


@then("the decision is not candidate")
def step_not_candidate(chart: Chart) -> None:
    decision = _done(chart).decision
    assert decision not in ("candidate", "candidate_with_cautions"), decision


@then(parsers.re(r"the answer names (?P<source>\S+) with a (?P<severity>caveat|unreadable) note"))
def step_named(chart: Chart, source: str, severity: str) -> None:
    notes = [(n.source, n.severity) for n in _done(chart).data_notes]
    assert (source, severity) in notes, notes
