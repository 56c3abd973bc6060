"""The per-process caches of the mapping (codings, references) give what building anew gives.

Codings and references repeat across a population, so each is built once and shared; a shared
value must never carry another record's display, system or target.
"""

from __future__ import annotations

from ldncds.engine import facts
from ldncds.fhir import lean
from ldncds.fhir.references import NO_TARGET, Target, parse_reference
from ldncds.fhir.values import concept

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _concept(*codings: dict[str, str], text: str | None = None) -> lean.CodeableConcept:
    return lean.CodeableConcept.model_validate({"coding": list(codings), **({"text": text} if text else {})})


def test_same_code_with_other_displays_keeps_each_display() -> None:
    first, _ = concept(_concept({"system": RXNORM, "code": "7258", "display": "naproxen"}))
    second, _ = concept(_concept({"system": RXNORM, "code": "7258", "display": "Naprosyn"}))
    bare, _ = concept(_concept({"system": RXNORM, "code": "7258"}))
    assert [c.display for c in (*first, *second, *bare)] == ["naproxen", "Naprosyn", None]
    assert {c.system for c in (*first, *second, *bare)} == {"RxNorm"}


def test_a_repeated_coding_is_the_coding_built_anew() -> None:
    raw = {"system": "http://snomed.info/sct", "code": "203082005", "display": "x" * 600}
    for _ in range(2):
        (coding,), _ = concept(_concept(raw))
        assert coding == facts.Coding(system="SNOMED-CT", code="203082005", display="x" * 512)


def test_unknown_systems_are_kept_as_given() -> None:
    (coding,), _ = concept(_concept({"system": "urn:example:local", "code": "A1"}))
    assert (coding.system, coding.code) == ("urn:example:local", "A1")


def test_references_parse_the_same_every_time() -> None:
    cases = {
        "Patient/p1": Target("Patient", "p1"),
        "https://ehr.example.org/fhir/Patient/p1/_history/3": Target("Patient", "p1"),
        "urn:uuid:abc": Target(None, "abc"),
        "#med1": NO_TARGET,
        "Patient?identifier=x": NO_TARGET,
        "": NO_TARGET,
    }
    for _ in range(2):
        assert {ref: parse_reference(ref) for ref in cases} == cases
    assert parse_reference(None) == parse_reference(42) == NO_TARGET
