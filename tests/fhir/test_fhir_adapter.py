"""FHIR R4 -> PatientFacts adapter: Synthea bulk sample, edge cases of fhir-r4-mapping.md section 10."""

from __future__ import annotations

import copy
import gzip
import json
import pickle
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ldncds.engine import Engine
from ldncds.engine.facts import PatientFacts
from ldncds.fhir import (
    MISSING,
    FhirInputError,
    MappingResult,
    facts_from_bundle,
    facts_from_ndjson_group,
    facts_from_resources,
    lean,
)
from ldncds.fhir.values import age_span, shift

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
# The Synthea sample, copied into the repository (gzip, source in its README).
SYNTHEA = Path(__file__).resolve().parents[1] / "fixtures" / "bulk" / "synthea-bulk-10"
SECRETS = ("Doe-Secret", "MRN-SECRET-42", "Hidden Street", "Jane")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def by_source(items: list[Any] | None) -> dict[str, Any]:
    assert items is not None
    return {item.source: item for item in items}


def codes(item: Any) -> set[tuple[str, str]]:
    return {(c.system, c.code) for c in item.codes}


# ---------------------------------------------------------------------------------------------------------
# Synthea bulk export


def _synthea_groups() -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(SYNTHEA.glob("*.ndjson.gz")):
        for line in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines():
            resource = json.loads(line)
            if resource["resourceType"] == "Patient":
                owner = resource["id"]
            else:
                reference = (resource.get("subject") or resource.get("patient"))["reference"]
                owner = reference.removeprefix("urn:uuid:").removeprefix("Patient/")
            groups[owner].append(resource)
    return dict(groups)


@pytest.fixture(scope="module")
def synthea() -> dict[str, list[dict[str, Any]]]:
    if not SYNTHEA.is_dir():
        pytest.fail(f"the Synthea sample is missing from {SYNTHEA}")
    return _synthea_groups()


@pytest.fixture(scope="module")
def synthea_results(synthea: dict[str, list[dict[str, Any]]]) -> dict[str, MappingResult]:
    return {pid: facts_from_ndjson_group(resources) for pid, resources in synthea.items()}


def test_every_synthea_patient_maps_completely(
    synthea: dict[str, list[dict[str, Any]]], synthea_results: dict[str, MappingResult]
) -> None:
    assert len(synthea) == 13
    for pid, result in synthea_results.items():
        counts: dict[str, int] = defaultdict(int)
        for resource in synthea[pid]:
            counts[resource["resourceType"]] += 1
        facts = result.facts
        assert facts.source == f"Patient/{pid}"
        assert result.warnings == []
        # All Synthea records are confirmed, live and of this patient: nothing may be lost.
        assert len(facts.conditions or []) == counts["Condition"]
        assert len(facts.medications or []) == counts["MedicationRequest"]
        assert len(facts.procedures or []) == counts["Procedure"]
        assert len(facts.allergies or []) == counts["AllergyIntolerance"]
        assert facts.observations == []  # bulk export = whole record: absent type means none
        assert facts.incomplete == []


def test_synthea_specific_facts(synthea_results: dict[str, MappingResult]) -> None:
    facts = synthea_results["ca15b832-01e4-41dd-6a52-97bd3e5510cb"].facts
    assert facts.birth_date == "1986-11-19" and facts.sex == "female" and not facts.deceased
    back_pain = [c for c in facts.conditions or [] if ("SNOMED-CT", "278860009") in codes(c)]
    assert len(back_pain) == 1
    assert back_pain[0].source == "Condition/65870443-8c4f-a04d-790f-2b02c4b27af1"
    assert back_pain[0].onset == "2014-01-31"  # written 2014-01-31T13:45:24-05:00
    assert back_pain[0].clinical_status == "active" and back_pain[0].verification_status == "confirmed"

    old = synthea_results["79a66c97-6131-3213-f3c9-4606946ab056"].facts
    assert old.deceased
    meperidine = [m for m in old.medications or [] if ("RxNorm", "861467") in codes(m)]
    assert len(meperidine) == 1
    med = meperidine[0]
    assert (med.status, med.is_order, med.start, med.end) == ("stopped", True, "1980-06-05", None)
    assert med.daily_dose_mg is None  # Synthea doses are "1" (tablet, no unit): not convertible to mg


def test_synthea_deceased_and_resolved(synthea_results: dict[str, MappingResult]) -> None:
    deceased = {pid for pid, result in synthea_results.items() if result.facts.deceased}
    assert deceased == {
        "129c6ac7-8d06-89de-ad63-0204a93e76c3",
        "3af3708d-41f1-cd80-f3dd-ec5ac76072bf",
        "79a66c97-6131-3213-f3c9-4606946ab056",
    }
    resolved = [
        c
        for result in synthea_results.values()
        for c in result.facts.conditions or []
        if c.clinical_status == "resolved"
    ]
    assert resolved and all(c.abatement is not None for c in resolved)


def test_synthea_as_transaction_bundle_with_urn_uuid(synthea: dict[str, list[dict[str, Any]]]) -> None:
    pid = "ca15b832-01e4-41dd-6a52-97bd3e5510cb"
    entries = []
    for resource in copy.deepcopy(synthea[pid]):
        for key in ("subject", "patient"):
            if key in resource:
                resource[key]["reference"] = f"urn:uuid:{pid}"
        entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    result = facts_from_bundle(bundle)
    assert result.warnings == []
    assert len(result.facts.conditions or []) == sum(r["resourceType"] == "Condition" for r in synthea[pid])


# ---------------------------------------------------------------------------------------------------------
# Hand-made chart Bundle: edge cases of section 10


@pytest.fixture(scope="module")
def chart() -> MappingResult:
    return facts_from_bundle(load("chart_bundle.json"), site_timezone="UTC")


def test_patient_demographics(chart: MappingResult) -> None:
    facts = chart.facts
    assert (facts.source, facts.birth_date, facts.sex, facts.deceased) == (
        "Patient/pt-1",
        "1980-03-15",
        "female",
        False,
    )


def test_entered_in_error_and_refuted_are_dropped(chart: MappingResult) -> None:
    sections = ("conditions", "medications", "procedures", "allergies", "observations")
    sources = {fact.source for section in sections for fact in getattr(chart.facts, section)}
    for dropped in (
        "Condition/cond-eie",
        "Condition/cond-refuted",
        "MedicationRequest/mr-eie",
        "Procedure/proc-eie",
        "AllergyIntolerance/al-refuted",
        "AllergyIntolerance/al-eie",
        "Observation/obs-cancelled",
        "Observation/obs-eie",
    ):
        assert dropped not in sources
    assert "Procedure/proc-1" in sources and "AllergyIntolerance/al-1" in sources


def test_condition_abatement(chart: MappingResult) -> None:
    conditions = by_source(chart.facts.conditions)
    abated = conditions["Condition/cond-abated"]
    # Status kept as given; the engine sees the past abatement and treats the condition as not current.
    assert (abated.clinical_status, abated.abatement, abated.onset) == ("active", "2019-08-01", "2015-04-02")
    assert abated.abated
    text_abated = conditions["Condition/cond-abated-text"]
    assert (text_abated.clinical_status, text_abated.abatement, text_abated.abated) == (
        "resolved",
        None,
        True,
    )
    assert not conditions["Condition/cond-partial"].abated
    assert text_abated.onset == "2016-02"  # onsetPeriod.start, partial


def test_partial_future_and_zoned_dates(chart: MappingResult) -> None:
    conditions = by_source(chart.facts.conditions)
    partial = conditions["Condition/cond-partial"]
    assert (partial.onset, partial.recorded_date) == ("2021-06", "2021")
    future = conditions["Condition/cond-future"]
    assert (future.onset, future.recorded_date) == ("2099-01-01", "2099-02-03")  # kept; the engine decides
    zoned = conditions["Condition/cond-tz"]
    # The site's calendar day: 23:30 at -05:00 is 04:30 UTC the next day; at a US Eastern site, the 1st.
    assert (zoned.onset, zoned.recorded_date) == ("2020-03-02", "2020-03-02")
    eastern = facts_from_bundle(load("chart_bundle.json"), site_timezone="America/New_York").facts
    assert by_source(eastern.conditions)["Condition/cond-tz"].onset == "2020-03-01"
    assert codes(zoned) == {("http://example.org/local-codes", "PAIN-7")}  # unknown system kept as given
    assert conditions["Condition/cond-string"].onset is None
    assert conditions["Condition/cond-string"].text == "back pain since childhood"


def test_onset_age_is_every_day_of_that_age(chart: MappingResult) -> None:
    # Born 1980-03-15, onset at 40 years: any day from 2020-03-15 to 2021-03-14; no partial date
    # holds that, so the onset is unknown (it was its first day, which could qualify a duration).
    age = by_source(chart.facts.conditions)["Condition/cond-age"]
    assert (age.onset, age.verification_status) == (None, "provisional")


def test_onset_age_with_partial_birth_date() -> None:
    condition = {
        "resourceType": "Condition",
        "id": "c-age",
        "subject": {"reference": "Patient/pt-9"},
        "onsetAge": {"value": 40, "system": "http://unitsofmeasure.org", "code": "a"},
    }
    half_year = {**condition, "id": "c-half", "onsetAge": {"value": 6, "code": "mo"}}
    result = facts_from_resources(
        load("patient_partial_birthdate.json"), {"conditions": [condition, half_year]}
    )
    onsets = {c.source: c.onset for c in result.facts.conditions or []}
    assert onsets == {"Condition/c-age": None, "Condition/c-half": None}  # born 1979: aged 40 in 2019 or 2020
    assert result.facts.birth_date == "1979"


@pytest.mark.parametrize(
    ("birth", "youngest", "oldest", "onset"),
    [
        ("2000-01-01", (5, "a"), (5, "a"), "2005"),  # the whole of 2005
        ("2020-01-01", (0, "mo"), (0, "mo"), "2020-01"),  # the first month of life
        ("2020-01-01", (10, "d"), (10, "d"), "2020-01-11"),  # a day is a day
        ("2000-01-01", (5, "a"), (6, "a"), None),  # 2005 to 2006
        ("1974-02-11", (52, "a"), (52, "a"), None),  # 2026-02-11 to 2027-02-10
        ("2000", (5, "a"), (5, "a"), None),  # born 2000: aged 5 in 2005 or 2006
        ("2000-01-01", (5, "a"), None, None),  # a Range without its high end
        ("2000-01-01", None, (5, "a"), None),  # nor its low end
        (None, (5, "a"), (5, "a"), None),  # no birth date
        ("2000-01-01", (-1, "a"), (-1, "a"), None),  # no negative ages
    ],
)
def test_age_span_holds_every_day_of_the_ages(
    birth: str | None, youngest: tuple[int, str] | None, oldest: tuple[int, str] | None, onset: str | None
) -> None:
    def age(given: tuple[int, str] | None) -> lean.Quantity | None:
        return None if given is None else lean.Quantity(value=given[0], code=given[1])

    assert age_span(birth, age(youngest), age(oldest)) == onset


def test_an_onset_age_or_range_never_qualifies_a_pain_duration() -> None:
    # Aged 52 years 9 months today: an onset "at 52" may have been last week.
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1974-02-11"}
    base = {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M79.7"}]},
    }
    at_age = {**base, "id": "c-age", "onsetAge": {"value": 52, "code": "a"}}
    in_range = {
        **base,
        "id": "c-range",
        "onsetRange": {"low": {"value": 50, "code": "a"}, "high": {"value": 52, "code": "a"}},
    }
    result = facts_from_resources(patient, {"conditions": [at_age, in_range]})
    assert {c.source: c.onset for c in result.facts.conditions or []} == {
        "Condition/c-age": None,
        "Condition/c-range": None,
    }
    assessment = Engine().assess(result.facts, date(2026, 12, 3))
    duration = next(c for c in assessment.criteria if c.id == "pain_duration")
    assert duration.status == "unknown" and assessment.decision != "candidate"


def test_an_abatement_age_has_passed_from_its_first_day() -> None:
    # An end is read by its earliest day (derive: abated once that has passed), so an abatement
    # "at 40" of an active-status entry still makes the condition not current.
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1974-02-11"}
    condition = {
        "resourceType": "Condition",
        "id": "c-abated",
        "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M79.7"}]},
        "abatementAge": {"value": 40, "code": "a"},
    }
    result = facts_from_resources(patient, {"conditions": [condition]})
    assert [c.abatement for c in result.facts.conditions or []] == ["2014-02-11"]


def test_shift_keeps_only_certain_precision() -> None:
    assert shift("1979-03", (40, 0, 0)) == "2019-03"
    assert shift("1979-03", (0, 0, 10)) == "1979"
    assert shift("2024-01-31", (0, 1, 0)) == "2024-02-29"
    assert shift(None, (1, 0, 0)) is None


def test_wrong_patient_dropped_and_reference_forms(chart: MappingResult) -> None:
    conditions = by_source(chart.facts.conditions)
    assert "Condition/cond-other-patient" not in conditions
    assert "Condition/cond-absolute" in conditions  # absolute URL with _history
    assert "Condition/cond-urn" in conditions  # urn:uuid:<patient id>
    assert "dropped Condition/cond-other-patient: subject is another patient" in chart.warnings


def test_duplicates_keep_newest_version(chart: MappingResult) -> None:
    duplicates = [c for c in chart.facts.conditions or [] if c.source == "Condition/cond-dup"]
    assert len(duplicates) == 1
    assert duplicates[0].clinical_status == "resolved"  # versionId 2 wins over 1
    assert any("Condition/cond-dup" in w and "more than once" in w for w in chart.warnings)


def test_duplicates_by_last_updated() -> None:
    base = {
        "resourceType": "Procedure",
        "id": "p1",
        "status": "completed",
        "subject": {"reference": "Patient/x"},
    }
    newer = {**base, "status": "stopped", "meta": {"lastUpdated": "2024-01-02T00:00:00+01:00"}}
    older = {**base, "meta": {"lastUpdated": "2024-01-01T12:00:00-05:00"}}
    result = facts_from_resources(None, {"procedures": [newer, older]}, patient_id="x")
    assert [p.status for p in result.facts.procedures or []] == ["stopped"]


def test_on_hold_opioid_with_dose_and_bounds(chart: MappingResult) -> None:
    oxy = by_source(chart.facts.medications)["MedicationRequest/mr-onhold"]
    assert oxy.status == "on-hold" and oxy.is_order
    assert codes(oxy) == {("RxNorm", "1049621")}
    assert (oxy.start, oxy.end) == ("2024-04-20", "2024-05-20")  # boundsPeriod.end
    assert oxy.daily_dose_mg == 20.0  # 5 mg every 6 h
    assert oxy.dose_text == "5 mg every 6 hours as needed"


def test_text_only_medication_is_kept(chart: MappingResult) -> None:
    percocet = by_source(chart.facts.medications)["MedicationRequest/mr-text"]
    assert (percocet.codes, percocet.text, percocet.status) == ([], "Percocet 5/325", "active")


def test_medication_reference_contained(chart: MappingResult) -> None:
    ldn = by_source(chart.facts.medications)["MedicationRequest/mr-contained"]
    assert codes(ldn) == {("RxNorm", "1797887"), ("RxNorm", "7243")}  # product + ingredient
    assert ldn.text == "LDN 4.5 mg capsule"
    assert ldn.daily_dose_mg == 4.5  # timing code BED = once a day


def test_medication_reference_bundled(chart: MappingResult) -> None:
    meds = by_source(chart.facts.medications)
    relative = meds["MedicationRequest/mr-bundled"]
    assert codes(relative) == {("RxNorm", "835603")}
    # validityPeriod is how long the order may be filled, not when use ended: the end is unknown.
    assert (relative.text, relative.start, relative.end) == ("Tramadol 50 mg", "2023-01-10", None)
    absolute = meds["MedicationRequest/mr-fullurl"]
    assert codes(absolute) == {("RxNorm", "835603")}
    assert (absolute.start, absolute.end) == ("2022-11-05", "2022-11-19")  # authoredOn + 2 wk supply


def test_unresolved_medication_reference_stays_visible(chart: MappingResult) -> None:
    tramadol = by_source(chart.facts.medications)["MedicationRequest/mr-unresolved"]
    assert (tramadol.codes, tramadol.text, tramadol.status) == ([], "Tramadol 50 mg tablet", "active")
    assert (
        "MedicationRequest/mr-unresolved: medicationReference Medication/not-here could not be resolved"
        in chart.warnings
    )


def test_proposal_and_statement(chart: MappingResult) -> None:
    meds = by_source(chart.facts.medications)
    assert meds["MedicationRequest/mr-proposal"].is_order is False
    statement = meds["MedicationStatement/ms-1"]
    assert (statement.start, statement.end, statement.daily_dose_mg) == ("2023-06", "2023-12-31", 3.0)
    assert statement.is_order


def test_procedure_and_allergy(chart: MappingResult) -> None:
    procedure = by_source(chart.facts.procedures)["Procedure/proc-1"]
    assert (procedure.status, procedure.performed) == ("completed", "2022-09-01")
    assert {(c.system, c.code) for c in procedure.category} == {("SNOMED-CT", "387713003")}
    allergy = by_source(chart.facts.allergies)["AllergyIntolerance/al-1"]
    assert (allergy.clinical_status, allergy.verification_status) == ("active", "confirmed")
    assert codes(allergy) == {("RxNorm", "7243")}


def test_urine_screen_results(chart: MappingResult) -> None:
    obs = by_source(chart.facts.observations)
    assert (obs["Observation/obs-hcg-cc"].result, obs["Observation/obs-hcg-cc"].effective) == (
        "positive",
        "2024-05-02",
    )
    assert obs["Observation/obs-hcg-interp"].result == "positive"  # interpretation POS, no value
    assert obs["Observation/obs-hcg-neg"].result == "negative"  # valueString "Negative."
    assert obs["Observation/obs-hcg-neg-cc"].result == "negative"
    assert obs["Observation/obs-hcg-neg-cc"].effective == "2024-05-06"  # effectivePeriod.end
    assert obs["Observation/obs-conflict"].result is None  # value negative, interpretation abnormal
    assert obs["Observation/obs-prelim"].status == "preliminary"  # kept; the engine ignores non-final


def test_observation_values(chart: MappingResult) -> None:
    obs = by_source(chart.facts.observations)
    phq = obs["Observation/obs-phq"]
    assert (phq.value_num, phq.effective) == (12.0, "2024-04-01")  # valueInteger; issued fallback
    egfr = obs["Observation/obs-egfr"]
    assert (egfr.value_num, egfr.value_unit, egfr.effective) == (72.5, "mL/min/{1.73_m2}", "2024-03-01")
    below = obs["Observation/obs-hcg-quant"]
    # "<5" is not the number 5: a bound, kept with its comparator (the rules read it as at most 5).
    assert (below.value_num, below.value_comparator, below.value_unit) == (5.0, "<", "m[IU]/mL")
    absent = obs["Observation/obs-absent"]
    assert (absent.value_num, absent.value_text, absent.result) == (None, None, None)


def test_observation_components(chart: MappingResult) -> None:
    obs = by_source(chart.facts.observations)
    systolic = obs["Observation/obs-panel#component[0]"]
    diastolic = obs["Observation/obs-panel#component[1]"]
    assert codes(systolic) == {("LOINC", "8480-6")}
    assert (systolic.value_num, systolic.value_unit, systolic.effective) == (128.0, "mm[Hg]", "2024-05-10")
    assert (diastolic.value_num, diastolic.status) == (82.0, "final")
    assert codes(obs["Observation/obs-panel"]) == {("LOINC", "85354-9")}


def test_unused_types_ignored_with_warning(chart: MappingResult) -> None:
    assert "ignored resources the rules do not use (1 Encounter)" in chart.warnings


def test_no_patient_data_in_warnings(chart: MappingResult) -> None:
    error_prefetch = {"conditions": load("conditions_outcome_error.json")}
    warnings = chart.warnings + facts_from_resources(load("patient.json"), error_prefetch).warnings
    assert warnings
    for secret in SECRETS:
        assert not any(secret in w for w in warnings)


def test_bundle_is_complete_record() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": load("patient.json")}],
    }
    facts = facts_from_bundle(bundle).facts
    assert (facts.conditions, facts.medications, facts.procedures, facts.allergies, facts.observations) == (
        [],
        [],
        [],
        [],
        [],
    )


def test_bundle_level_error_outcome_makes_everything_unknown() -> None:
    bundle = load("chart_bundle.json")
    bundle["entry"].append({"resource": load("operation_outcome_error.json"), "search": {"mode": "outcome"}})
    result = facts_from_bundle(bundle)
    assert result.facts.conditions is None and result.facts.observations is None
    assert result.facts.birth_date == "1980-03-15"


def test_bundle_with_several_patients_needs_patient_id() -> None:
    other = {"resourceType": "Patient", "id": "pt-2", "birthDate": "1990"}
    bundle = load("chart_bundle.json")
    bundle["entry"].append({"resource": other})
    with pytest.raises(FhirInputError):
        facts_from_bundle(bundle)
    result = facts_from_bundle(bundle, patient_id="pt-2")
    assert result.facts.source == "Patient/pt-2"
    assert [c.source for c in result.facts.conditions or []] == ["Condition/cond-other-patient"]


def test_batch_response_of_searchsets_is_flattened() -> None:
    inner = load("medications_next_page.json")
    batch = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [{"resource": load("patient.json")}, {"resource": inner}, {"response": {"status": "200"}}],
    }
    result = facts_from_bundle(batch)
    assert [m.source for m in result.facts.medications or []] == ["MedicationRequest/mr-onhold"]
    assert result.facts.conditions == []
    assert "medications" in result.facts.incomplete  # the inner searchset had a next link


# ---------------------------------------------------------------------------------------------------------
# Prefetch sections


def test_missing_versus_null_sections() -> None:
    result = facts_from_resources(load("patient.json"), {"conditions": None, "medications": MISSING})
    facts = result.facts
    assert facts.conditions == []  # null: looked, none found
    assert facts.medications is None and facts.procedures is None  # not supplied: unknown
    assert isinstance(facts, PatientFacts)


def test_empty_searchset_is_none_found() -> None:
    empty = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    assert facts_from_resources(None, {"allergies": empty}).facts.allergies == []


def test_outcome_error_section_is_unknown() -> None:
    result = facts_from_resources(load("patient.json"), {"conditions": load("conditions_outcome_error.json")})
    assert result.facts.conditions is None
    assert [(n.section, n.severity) for n in result.facts.notes] == [("conditions", "unreadable")]


def test_bare_outcome_section_is_unknown() -> None:
    result = facts_from_resources(None, {"medications": load("operation_outcome_error.json")})
    assert result.facts.medications is None
    assert result.warnings


def test_outcome_warning_keeps_data_but_incomplete() -> None:
    result = facts_from_resources(
        load("patient.json"), {"conditions": load("conditions_outcome_warning.json")}
    )
    assert [c.source for c in result.facts.conditions or []] == ["Condition/cond-abated"]
    assert result.facts.incomplete == ["conditions"]


def test_next_link_marks_incomplete() -> None:
    result = facts_from_resources(load("patient.json"), {"medications": load("medications_next_page.json")})
    assert [m.source for m in result.facts.medications or []] == ["MedicationRequest/mr-onhold"]
    assert result.facts.incomplete == ["medications"]


def test_list_section_with_side_medication_and_unexpected_type() -> None:
    med = {
        "resourceType": "Medication",
        "id": "m9",
        "code": {"coding": [{"system": "rxnorm", "code": "7052"}]},
    }
    request = {
        "resourceType": "MedicationRequest",
        "id": "r9",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/pt-1"},
        "medicationReference": {"reference": "Medication/m9"},
    }
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "AMB"}}
    result = facts_from_resources(load("patient.json"), {"medications": [med, request, encounter]})
    [fact] = result.facts.medications or []
    assert codes(fact) == {("RxNorm", "7052")} and fact.is_order is False
    assert any("Encounter" in w for w in result.warnings)


def test_single_resource_section_and_unverifiable_subject() -> None:
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": {"reference": "Patient?identifier=urn:x|1"},
        "code": {"text": "naltrexone"},
    }
    result = facts_from_resources(load("patient.json"), {"allergies": allergy})
    assert [a.text for a in result.facts.allergies or []] == ["naltrexone"]
    assert "AllergyIntolerance/a1: subject could not be checked; kept" in result.warnings


def test_wrong_patient_dropped_in_prefetch_with_context_id() -> None:
    bundle = load("conditions_outcome_warning.json")
    result = facts_from_resources(None, {"conditions": bundle}, patient_id="someone-else")
    assert result.facts.conditions == []
    assert result.facts.source == "Patient/someone-else"


def test_patient_resource_must_be_the_context_patient() -> None:
    with pytest.raises(FhirInputError) as info:
        facts_from_resources(load("patient.json"), {}, patient_id="pt-2", path_prefix="prefetch.")
    assert info.value.path == "prefetch.patient.id"


def test_unknown_section_key_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown section"):
        facts_from_resources(None, {"encounters": None})


# ---------------------------------------------------------------------------------------------------------
# Malformed input -> FhirInputError naming the field


def test_datetime_without_zone_is_rejected_with_path() -> None:
    with pytest.raises(FhirInputError) as info:
        facts_from_resources(None, {"conditions": load("condition_datetime_no_zone.json")})
    assert info.value.path == "conditions.onsetDateTime"
    assert "2024-01-02T10:00:00" not in str(info.value)


def test_bad_date_in_bundle_entry() -> None:
    bundle = load("chart_bundle.json")
    bundle["entry"][3]["resource"]["onsetDateTime"] = "not-a-date"
    bundle["entry"][3]["resource"].pop("onsetPeriod", None)
    with pytest.raises(FhirInputError) as info:
        facts_from_bundle(bundle)
    assert info.value.path == "entry[3].resource.onsetDateTime"
    assert "not-a-date" not in info.value.message


def test_wrong_type_code_in_prefetch_bundle() -> None:
    bundle = load("conditions_outcome_warning.json")
    bundle["entry"][0]["resource"]["code"] = 5
    with pytest.raises(FhirInputError) as info:
        facts_from_resources(load("patient.json"), {"conditions": bundle}, path_prefix="prefetch.")
    assert info.value.path == "prefetch.conditions.entry[0].resource.code"


def test_nested_error_path_in_list_and_ndjson() -> None:
    request = copy.deepcopy(load("medications_next_page.json")["entry"][0]["resource"])
    request["dosageInstruction"][0]["timing"]["repeat"]["frequency"] = "often"
    with pytest.raises(FhirInputError) as info:
        facts_from_resources(None, {"medications": [request]})
    assert info.value.path == "medications[0].dosageInstruction[0].timing.repeat.frequency"
    assert "often" not in str(info.value)
    with pytest.raises(FhirInputError) as info:
        facts_from_ndjson_group([load("patient.json"), request])
    assert info.value.path == "[1].dosageInstruction[0].timing.repeat.frequency"


def test_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(FhirInputError("entry[0].resource.code", "bad")))
    assert (error.path, error.message, str(error)) == (
        "entry[0].resource.code",
        "bad",
        "entry[0].resource.code: bad",
    )


def test_missing_resource_type() -> None:
    with pytest.raises(FhirInputError) as info:
        facts_from_resources(None, {"procedures": [{"id": "x"}]})
    assert info.value.path == "procedures[0].resourceType"


def test_r5_shape_is_rejected() -> None:
    r5_request = {
        "resourceType": "MedicationRequest",
        "id": "r5",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/pt-1"},
        "medication": {"concept": {"text": "oxycodone"}},
    }
    with pytest.raises(FhirInputError) as info:
        facts_from_resources(None, {"medications": [r5_request]})
    assert info.value.path == "medications[0].medication"


@pytest.mark.parametrize("validation", ["lean", "full"])
@pytest.mark.parametrize("rtype", [None, 3, "", "NotAType"])
def test_a_contained_resource_of_no_known_type_is_named_not_a_crash(validation: str, rtype: Any) -> None:
    """fhir.resources raises TypeError/KeyError here; the caller must get a 400 naming the field."""
    request = {
        "resourceType": "MedicationRequest",
        "id": "mr-c",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/pt-1"},
        "contained": [{"resourceType": "Medication", "id": "ok"}, {"resourceType": rtype, "id": "m1"}],
        "medicationReference": {"reference": "#m1"},
    }
    with pytest.raises(FhirInputError) as info:
        facts_from_resources(None, {"medications": [request]}, validation=validation)
    assert info.value.path == "medications[0].contained[1].resourceType"
    lenient = facts_from_resources(None, {"medications": [request]}, strict=False, validation=validation)
    assert lenient.facts.medications == [] and lenient.facts.incomplete == ["medications"]
    assert [n.source for n in lenient.notes] == ["MedicationRequest/mr-c"]


@pytest.mark.parametrize(
    ("deceased", "zone", "expected"),
    [
        ({"deceasedDateTime": "2026-02-28T23:30:00-05:00"}, "UTC", (True, "2026-03-01")),  # site's day
        ({"deceasedDateTime": "2026-02-28T23:30:00-05:00"}, "America/New_York", (True, "2026-02-28")),
        ({"deceasedDateTime": "2026"}, "UTC", (True, "2026")),  # partial: precision kept
        ({"deceasedBoolean": True}, "UTC", (True, None)),
        ({"deceasedBoolean": False}, "UTC", (False, None)),
        ({}, "UTC", (False, None)),
    ],
)
def test_the_date_of_death_is_read_on_the_site_calendar(
    deceased: dict[str, Any], zone: str, expected: tuple[bool, str | None]
) -> None:
    patient = {"resourceType": "Patient", "id": "p", **deceased}
    facts = facts_from_resources(patient, {}, patient_id="p", site_timezone=zone).facts
    assert (facts.deceased, facts.deceased_on) == expected
