"""A coded Observation answer (a PHQ-9 item answered in a form) keeps its codes, and the score the
record itself gives it (ordinalValue) when it states one; the rules read the codes (CAUT-SUICIDE-04)."""

from __future__ import annotations

from typing import Any

import pytest

from ldncds.fhir import FhirInputError, facts_from_resources

ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
LOINC = "http://loinc.org"


def _item9(value: dict[str, Any], validation: str) -> Any:
    observation = {
        "resourceType": "Observation", "id": "o", "status": "final",
        "subject": {"reference": "Patient/p"}, "effectiveDateTime": "2026-02-27",
        "code": {"coding": [{"system": LOINC, "code": "44260-8"}]}, **value,
    }  # fmt: skip
    facts = facts_from_resources(None, {"observations": [observation]}, validation=validation)  # type: ignore[arg-type]
    (fact,) = facts.facts.observations or []
    return fact


def _coding(code: str, *scores: float) -> dict[str, Any]:
    return {
        "system": LOINC,
        "code": code,
        "extension": [{"url": ORDINAL, "valueDecimal": s} for s in scores],
    }


@pytest.mark.parametrize("validation", ["lean", "full"])
def test_a_loinc_answer_keeps_its_code_and_display(validation: str) -> None:
    value = {
        "valueCodeableConcept": {
            "coding": [{"system": LOINC, "code": "LA6570-1", "display": "More than half the days"}]
        }
    }
    fact = _item9(value, validation)
    assert [(c.system, c.code) for c in fact.value_codes] == [("LOINC", "LA6570-1")]
    assert (fact.value_text, fact.value_num) == ("More than half the days", None)


@pytest.mark.parametrize("validation", ["lean", "full"])
def test_the_records_own_score_is_read(validation: str) -> None:
    assert _item9({"valueCodeableConcept": {"coding": [_coding("LA6570-1", 2)]}}, validation).value_num == 2.0


@pytest.mark.parametrize("validation", ["lean", "full"])
def test_scores_that_disagree_are_no_score(validation: str) -> None:
    both = {"valueCodeableConcept": {"coding": [_coding("LA6570-1", 2), _coding("LA6571-9", 3)]}}
    assert _item9(both, validation).value_num is None


def test_a_stated_number_is_not_replaced_by_the_score() -> None:
    value = {"valueQuantity": {"value": 1}, "valueCodeableConcept": {"coding": [_coding("LA6570-1", 2)]}}
    # Two value[x] at once is invalid FHIR: the record is refused, never read as either number.
    with pytest.raises(FhirInputError, match="value"):
        _item9(value, "lean")


def _egfr(value: dict[str, Any]) -> Any:
    observation = {
        "resourceType": "Observation", "id": "e", "status": "final", "subject": {"reference": "Patient/p"},
        "effectiveDateTime": "2026-02-27",
        "code": {"coding": [{"system": LOINC, "code": "98979-8"}]}, **value,
    }  # fmt: skip
    (fact,) = facts_from_resources(None, {"observations": [observation]}).facts.observations or []
    return fact


@pytest.mark.parametrize(
    ("text", "number", "comparator"),
    [
        ("<15", 15.0, "<"),
        (" >= 60 ", 60.0, ">="),
        ("≤30", 30.0, "<="),
        ("20", 20.0, None),
        ("see report", None, None),
        ("15-20", None, None),
    ],
)
def test_a_number_written_as_text_is_read_with_its_comparator(
    text: str, number: float | None, comparator: str | None
) -> None:
    fact = _egfr({"valueString": text})
    assert (fact.value_num, fact.value_comparator, fact.value_unit, fact.value_text) == (
        number,
        comparator,
        None,
        text,
    )


def test_a_quantity_bound_keeps_its_comparator_and_unit() -> None:
    fact = _egfr(
        {
            "valueQuantity": {
                "value": 15,
                "comparator": "<",
                "system": "http://unitsofmeasure.org",
                "code": "mL/min/{1.73_m2}",
            }
        }
    )
    assert (fact.value_num, fact.value_comparator, fact.value_unit) == (15.0, "<", "mL/min/{1.73_m2}")
