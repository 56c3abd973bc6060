"""The lean models (ldncds.fhir.lean) against fhir.resources R4B, element by element.

Lean validation is only safe if it never accepts what full validation rejects: the adapter trusts a
lean model that validated, and only falls back to fhir.resources when it did not. These tests check
that soundness statically, from both libraries' field definitions: every lean element is an R4B
element of the same primitive type (the very same `fhirtypes` annotation), complex type and
cardinality; every element R4B requires is modelled and required; every [x] choice R4B enforces is
enforced. They also pin the behaviour the adapter relies on (unknown elements refused).
"""

from __future__ import annotations

import types
import typing
from typing import Any

import pytest
from fhir.resources.R4B import fhirtypes
from fhir_core.types import FhirBase
from pydantic import BaseModel

from ldncds.fhir import SECTION_TYPES, lean

_ABSTRACT = {lean.Element, lean.ChoiceElement, lean.DomainResource, lean._Clinical}


def _lean_classes() -> list[type[BaseModel]]:
    """Every lean model reachable from the resource models (the ones validation can build)."""
    for cls in vars(lean).values():
        if isinstance(cls, type) and issubclass(cls, lean._Model):
            cls.model_rebuild()  # deferred (lean.RESOURCE validates): resolve the field annotations
    seen: dict[str, type[BaseModel]] = {}
    todo: list[type[BaseModel]] = list(lean.MODELS.values())
    while todo:
        cls = todo.pop()
        if cls.__name__ in seen:
            continue
        seen[cls.__name__] = cls
        for field in cls.model_fields.values():
            _, inner = _unwrap(field.annotation)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                todo.append(inner)
    return [seen[name] for name in sorted(seen)]


def _unwrap(annotation: Any) -> tuple[bool, Any]:
    """(is a list, the element type) with Optional / None removed at both levels."""
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            assert len(args) == 1, annotation
            annotation = args[0]
        elif origin is list:
            is_list = True
            annotation = typing.get_args(annotation)[0]
        else:
            return is_list, annotation


def _annotation(field: Any) -> Any:
    """The element's annotation; pydantic keeps a required field's Annotated metadata apart."""
    return typing.Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def _without_shortcut(annotation: Any) -> Any:
    """The primitive type under a lean.Shortcut (a faster way to its values, tested on its own)."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return annotation
    kept = [m for m in annotation.__metadata__ if not isinstance(m, lean.Shortcut)]
    return typing.Annotated[(annotation.__origin__, *kept)] if kept else annotation.__origin__


def _full_class(name: str) -> type[BaseModel]:
    return getattr(fhirtypes, f"{name}Type").get_model_klass()


def _full_type_name(annotation: Any) -> str | None:
    """Name of the R4B complex type of an element (None for a primitive)."""
    if isinstance(annotation, type) and issubclass(annotation, FhirBase):
        return annotation._model_klass.rsplit(".", 1)[1]
    return None


def _full_fields(cls: type[BaseModel]) -> dict[str, Any]:
    fields = cls.model_fields.items()
    return {f.alias or n: f for n, f in fields if not n.endswith("__ext") and n != "fhir_comments"}


def _full_required(cls: type[BaseModel]) -> set[str]:
    required = {alias for alias, f in _full_fields(cls).items() if f.is_required()}
    return required | {alias for alias, _ in cls.model_construct().get_required_fields()}


LEAN = _lean_classes()


def test_every_resource_type_the_adapter_validates_has_a_lean_model() -> None:
    validated = {t for types_ in SECTION_TYPES.values() for t in types_} | {"Medication", "Patient"}
    assert set(lean.MODELS) == validated
    assert all(model.get_resource_type() == name for name, model in lean.MODELS.items())


@pytest.mark.parametrize("cls", [c for c in LEAN if c not in _ABSTRACT], ids=lambda c: c.__name__)
def test_every_lean_element_is_the_same_r4b_element(cls: type[BaseModel]) -> None:
    full = _full_fields(_full_class(cls.__name__))
    for name, field in cls.model_fields.items():
        if name == "resourceType":
            continue
        assert name in full, f"{cls.__name__}.{name} is not an R4B element"
        lean_list, lean_inner = _unwrap(_annotation(field))
        full_list, full_inner = _unwrap(_annotation(full[name]))
        where = f"{cls.__name__}.{name}"
        assert lean_list == full_list, f"{where}: cardinality differs"
        full_type = _full_type_name(full_inner)
        if name == "contained":
            assert full_type == "Resource" and lean_inner is lean.Medication, where  # narrower: sound
        elif full_type is None:
            lean_inner = _without_shortcut(lean_inner)  # the same type; tests/fhir/test_lean_dates.py
            assert lean_inner == full_inner, f"{where}: primitive type differs ({lean_inner} vs {full_inner})"
        else:
            assert getattr(lean_inner, "__name__", None) == full_type, f"{where}: {lean_inner} vs {full_type}"


@pytest.mark.parametrize("cls", [c for c in LEAN if c not in _ABSTRACT], ids=lambda c: c.__name__)
def test_every_element_r4b_requires_is_required(cls: type[BaseModel]) -> None:
    full = _full_class(cls.__name__)
    lean_required = {name for name, field in cls.model_fields.items() if field.is_required()}
    assert _full_required(full) - {"resourceType"} <= lean_required, cls.__name__


@pytest.mark.parametrize("cls", [c for c in LEAN if c not in _ABSTRACT], ids=lambda c: c.__name__)
def test_every_r4b_choice_is_enforced(cls: type[BaseModel]) -> None:
    full = _full_class(cls.__name__)
    groups: dict[str, list[str]] = full.model_construct().get_one_of_many_fields()
    lean_groups = {frozenset(g) for g in getattr(cls, "__choices__", ())}
    lean_required = {frozenset(g) for g in getattr(cls, "__required_choices__", ())}
    fields = _full_fields(full)
    for prefix, members in groups.items():
        modelled = frozenset(m for m in members if m in cls.model_fields)
        required = fields[members[0]].json_schema_extra["one_of_many_required"]
        if len(modelled) > 1:
            assert modelled in lean_groups, f"{cls.__name__}: {prefix}[x] may carry two types"
        if required:
            assert modelled and modelled in lean_required, f"{cls.__name__}: {prefix}[x] is required"
    full_groups = [frozenset(members) for members in groups.values()]
    for group in lean_groups | lean_required:  # else lean would refuse valid records (slow, not unsafe)
        assert any(group <= full_group for full_group in full_groups), f"{cls.__name__}: {sorted(group)}"


def test_unknown_elements_and_primitive_extensions_go_to_full_validation() -> None:
    base = {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}}
    assert lean.parse(base) is not None
    assert lean.parse(base | {"onsetDateTime": "2020-01-01", "onsetString": "2020"}) is None  # two onset[x]
    assert lean.parse(base | {"notAnElement": 1}) is None
    assert lean.parse(base | {"_recordedDate": {"extension": []}}) is None
    assert lean.parse(base | {"code": {"coding": [{"code": "x", "fhir_comments": "c"}]}}) is None
    assert lean.parse({"resourceType": "Encounter", "status": "finished"}) is None
    contained = base | {"contained": [{"resourceType": "Patient", "id": "p"}]}
    assert lean.parse(contained) is None  # only a contained Medication is modelled


def test_values_are_fhir_resources_values() -> None:
    """Same primitive types, so the same Python values: the mappers cannot tell the models apart."""
    raw = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm"}]},
        "authoredOn": "2024-03-01T23:30:00-05:00",
        "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 1.5, "unit": "mg"}}]}],
        "dispenseRequest": {"validityPeriod": {"start": "2024-03"}},
    }
    fast = lean.parse(raw)
    full = _full_class("MedicationRequest").model_validate(raw)
    assert isinstance(fast, lean.MedicationRequest)
    assert fast.authoredOn == full.authoredOn
    assert type(fast.authoredOn) is type(full.authoredOn)
    fast_dose = fast.dosageInstruction[0].doseAndRate[0].doseQuantity
    full_dose = full.dosageInstruction[0].doseAndRate[0].doseQuantity
    assert (fast_dose.value, type(fast_dose.value)) == (full_dose.value, type(full_dose.value))
    assert fast.dispenseRequest.validityPeriod.start == "2024-03" == full.dispenseRequest.validityPeriod.start
