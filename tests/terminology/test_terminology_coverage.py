"""Issue 11 acceptance: real EHR codes (products, combinations, lab tests, text names) decide right.

Data copied from shared/ into tests/fixtures/terminology (see its README): the CI clone has no shared/.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ldncds.engine import Engine, PatientFacts
from ldncds.engine.assessment import Assessment
from ldncds.engine.facts import Allergy, Coding, Medication, Observation
from ldncds.engine.loader import ValueSets
from ldncds.fhir.adapter import facts_from_resources

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "fixtures" / "terminology"
ON = date(2026, 3, 1)
RXNORM_OID = "urn:oid:2.16.840.1.113883.6.88"


def _csv(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(ROOT / "rules")


@pytest.fixture(scope="module")
def candidate() -> PatientFacts:
    return PatientFacts.model_validate_json((ROOT / "examples" / "candidate.json").read_text())


def _with(base: PatientFacts, **extra: list[Any]) -> PatientFacts:
    return base.model_copy(update={k: [*(getattr(base, k) or []), *v] for k, v in extra.items()})


def _current(code: str, display: str, system: str = "RxNorm", dose: float | None = None) -> Medication:
    return Medication(
        source=f"MedicationRequest/{code}",
        codes=[Coding(system=system, code=code, display=display)],
        status="active",
        start="2026-01-10",
        daily_dose_mg=dose,
    )


def test_the_candidate_example_is_a_candidate(engine: Engine, candidate: PatientFacts) -> None:
    assert engine.assess(candidate, ON).decision == "candidate"  # the base every case below changes


@pytest.mark.parametrize("row", _csv("combos_with_opioid.csv"), ids=lambda r: r["code"])
def test_every_opioid_combination_product_contraindicates(
    engine: Engine, candidate: PatientFacts, row: dict[str, str]
) -> None:
    a = engine.assess(_with(candidate, medications=[_current(row["code"], row["display"])]), ON)
    assert a.decision == "contraindicated", (row, a.reason)


def test_combinations_never_count_as_a_qualifying_trial(engine: Engine) -> None:
    sets = engine.ruleset.valuesets
    for row in _csv("combos_with_opioid.csv"):
        found = sets.of_code("RxNorm", row["code"])
        assert "opioid_agonists" in found and not found & {"nsaids", "neuropathic_agents", "naltrexone"}, row


def _swap(base: PatientFacts, sets: ValueSets, value_set: str, med: Medication) -> PatientFacts:
    """The candidate with its own trial of that class replaced by `med`."""
    keep = [
        m
        for m in base.medications or []
        if not any(value_set in sets.of_code(c.system, c.code) for c in m.codes)
    ]
    return base.model_copy(update={"medications": [*keep, med]})


def _trial(code: str, display: str, system: str = "RxNorm", dose: float | None = None) -> Medication:
    return Medication(
        source=f"MedicationRequest/{code}",
        codes=[Coding(system=system, code=code, display=display)],
        status="completed",
        start="2025-01-10",
        end="2025-04-10",
        daily_dose_mg=dose,
    )


def _criterion(a: Assessment, criterion: str) -> str:
    return next(c.status for c in a.criteria if c.id == criterion)


@pytest.mark.parametrize("row", _csv("class_samples.csv"), ids=lambda r: f"{r['value_set']}-{r['code']}")
def test_a_sample_of_every_class_is_recognised(
    engine: Engine, candidate: PatientFacts, row: dict[str, str]
) -> None:
    sets = engine.ruleset.valuesets
    vs, code, display = row["value_set"], row["code"], row["display"]
    assert vs in sets.of_code("RxNorm", code), row
    if vs in ("nsaids", "neuropathic_agents"):
        criterion = "failed_anti_inflammatory" if vs == "nsaids" else "failed_neuropathic_agent"
        a = engine.assess(_swap(candidate, sets, vs, _trial(code, display)), ON)
        assert _criterion(a, criterion) == "met" and a.decision == "candidate", a.reason
        # the same product written with RxNorm's OID is the same code
        a = engine.assess(_swap(candidate, sets, vs, _trial(code, display, system=RXNORM_OID)), ON)
        assert _criterion(a, criterion) == "met", a.reason
    elif vs == "aspirin":
        a = engine.assess(_swap(candidate, sets, "nsaids", _trial(code, display, dose=1950.0)), ON)
        assert _criterion(a, "failed_anti_inflammatory") == "met", a.reason
    elif vs in ("thyroid_replacement", "immunosuppressants", "opioid_antidiarrheals"):
        a = engine.assess(_with(candidate, medications=[_current(code, display)]), ON)
        assert a.decision == "candidate_with_cautions", (row, a.reason)
    elif vs in ("naloxone", "naltrexone"):
        allergy = Allergy(
            source=f"AllergyIntolerance/{code}",
            codes=[Coding(system="RxNorm", code=code, display=display)],
            clinical_status="active",
        )
        a = engine.assess(_with(candidate, allergies=[allergy]), ON)
        assert a.decision == "contraindicated", (row, a.reason)


def test_topical_nsaids_do_not_count_as_an_anti_inflammatory_trial(
    engine: Engine, candidate: PatientFacts
) -> None:
    sets = engine.ruleset.valuesets
    rows = engine.ruleset.valuesets.rows["nsaids_topical"]
    assert len(rows) > 50
    for row in rows[:10]:
        assert "nsaids" not in sets.of_code(row.system, row.code), row
        a = engine.assess(_swap(candidate, sets, "nsaids", _trial(row.code, row.display)), ON)
        assert _criterion(a, "failed_anti_inflammatory") != "met", row


def _screen(code: str, display: str, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"uds-{code}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "effectiveDateTime": "2026-02-25",
        **value,
    }


POSITIVE_FORMS: list[dict[str, Any]] = [
    {"valueString": "POS"},
    {"valueString": "Presumptive positive"},
    {"valueString": "Positive (presumptive)"},
    {"valueString": ">2000 ng/mL (cutoff 300 ng/mL)"},
    {"valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "10828004"}]}},
    {
        "interpretation": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0078", "code": "POS"}]}
        ]
    },
    {"interpretation": [{"coding": [{"system": "http://hl7.org/fhir/v2/0078", "code": "POS"}]}]},
    {
        "interpretation": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "DET",
                    }
                ]
            }
        ]
    },
    {"interpretation": [{"coding": [{"system": "urn:oid:2.16.840.1.113883.5.83", "code": "POS"}]}]},
]


def _observation_facts(resource: dict[str, Any]) -> list[Observation]:
    result = facts_from_resources(None, {"observations": [resource]})
    return result.facts.observations or []


@pytest.mark.parametrize("value", POSITIVE_FORMS, ids=lambda v: str(v)[:60])
def test_positive_results_are_read_in_every_form_labs_send(value: dict[str, Any]) -> None:
    (obs,) = _observation_facts(_screen("19295-5", "Opiates [Presence] in Urine by Screen method", **value))
    assert obs.result == "positive"


@pytest.mark.parametrize(
    "text", ["Inconclusive", "See comment", "positive for cocaine, negative for opiates"]
)
def test_an_unreadable_result_stays_unknown_with_its_text(text: str) -> None:
    (obs,) = _observation_facts(_screen("19295-5", "Opiates", valueString=text))
    assert obs.result is None and obs.value_text == text  # never read as negative


def test_every_opioid_class_urine_test_reported_positive_contraindicates(
    engine: Engine, candidate: PatientFacts
) -> None:
    tests = [r for r in _csv("cdc_opioid_urine_tests.csv") if not r["excluded"]]
    assert len(tests) > 300
    sets = engine.ruleset.valuesets
    for row in tests:
        assert "opiate_urine_screen" in sets.of_code("LOINC", row["code"]), row
        (obs,) = _observation_facts(_screen(row["code"], row["display"], valueString="POS"))
        a = engine.assess(_with(candidate, observations=[obs]), ON)
        assert a.decision == "contraindicated", (row, a.reason)


def test_antagonist_and_cutoff_tests_are_not_opioid_screens(engine: Engine) -> None:
    """A positive naltrexone urine test is expected on LDN; a cutoff LOINC carries no result."""
    sets = engine.ruleset.valuesets
    excluded = [r for r in _csv("cdc_opioid_urine_tests.csv") if r["excluded"]]
    assert excluded and all("opiate_urine_screen" not in sets.of_code("LOINC", r["code"]) for r in excluded)


def test_an_opioid_screen_with_an_unreadable_value_is_insufficient_information(
    engine: Engine, candidate: PatientFacts
) -> None:
    assert "opiate_urine_screen" in engine.ruleset.valuesets.of_code("LOINC", "58379-9")
    (obs,) = _observation_facts(
        _screen(
            "58379-9",
            "fentaNYL+Norfentanyl [Presence] in Urine by Screen method",
            valueString="see lab comment",
        )
    )
    a = engine.assess(_with(candidate, observations=[obs]), ON)
    assert a.decision == "insufficient_information"
    assert "uds-58379-9" in a.model_dump_json()


def test_every_text_name_of_an_opioid_contraindicates(engine: Engine, candidate: PatientFacts) -> None:
    words = [r.code for r in engine.ruleset.valuesets.rows["opioid_agonists"] if r.match == "keyword"]
    assert {"kratom", "tilidine", "norco", "targiniq", "lorcet"} <= set(words)
    for word in words:
        med = Medication(
            source="MedicationStatement/text", text=f"{word.title()} as directed", status="active"
        )
        a = engine.assess(_with(candidate, medications=[med]), ON)
        assert a.decision == "contraindicated", (word, a.reason)


def test_set_relations_the_rules_rely_on(engine: Engine) -> None:
    sets = engine.ruleset.valuesets

    def codes(name: str) -> set[tuple[str, str]]:
        return {(r.system, r.code) for r in sets.rows[name] if r.match == "exact"}

    agonists, long_acting, maintenance = (
        codes("opioid_agonists"),
        codes("opioid_long_acting"),
        codes("opioid_maintenance"),
    )
    assert codes("buprenorphine_analgesic") <= agonists & long_acting
    assert not codes("buprenorphine_analgesic") & maintenance
    assert codes("buprenorphine_depot") <= agonists & maintenance
    for qualifying in (
        "nsaids",
        "neuropathic_agents",
        "aspirin",
        "thyroid_replacement",
        "immunosuppressants",
    ):
        assert not codes(qualifying) & agonists, qualifying
    assert not codes("nsaids") & codes("nsaids_topical")
    assert not codes("naltrexone") & codes("naltrexone_combination")
    assert codes("naltrexone_depot") | codes("naltrexone_full_dose") <= codes("naltrexone")
    assert ("RxNorm", "6468") not in agonists  # loperamide is a caution, not a hard stop
