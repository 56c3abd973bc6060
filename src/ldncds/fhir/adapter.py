"""FHIR R4 JSON (prefetch sections, Bundles, bulk-export groups) -> engine `PatientFacts`.

Resources are validated one by one with the fhir.resources R4B classes (R4B = R4 for every type read
here); facts are then read from the validated models, so each resource is parsed exactly once.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ldncds.engine.facts import PatientFacts
from ldncds.fhir.mappers import MAPPERS, MapContext
from ldncds.fhir.values import date_str

SectionName = Literal["conditions", "medications", "procedures", "allergies", "observations"]
SECTION_TYPES: dict[SectionName, tuple[str, ...]] = {
    "conditions": ("Condition",),
    "medications": ("MedicationRequest", "MedicationStatement"),
    "procedures": ("Procedure",),
    "allergies": ("AllergyIntolerance",),
    "observations": ("Observation",),
}
_TYPE_SECTION: dict[str, SectionName] = {t: name for name, types in SECTION_TYPES.items() for t in types}
_SEXES = frozenset({"female", "male", "other", "unknown"})
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_LOC_NAME = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]*$")


class Missing(enum.Enum):
    """Sentinel type: a prefetch key that was not supplied (unknown), unlike None (looked, none found)."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing.MISSING

SectionValue = list[dict[str, Any]] | dict[str, Any] | None | Missing


class FhirInputError(ValueError):
    """Unreadable FHIR input. `path` locates the field; `message` never quotes patient data."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message

    def __reduce__(self) -> tuple[type[FhirInputError], tuple[str, str]]:
        return FhirInputError, (self.path, self.message)  # picklable for distributed screening


@dataclass
class MappingResult:
    facts: PatientFacts
    warnings: list[str]


@dataclass(slots=True)
class _Item:
    raw: dict[str, Any]
    path: str
    full_url: str | None


@dataclass
class _Section:
    items: list[_Item] = field(default_factory=list)
    unavailable: bool = False
    incomplete: bool = False


# ---------------------------------------------------------------------------------------------------------
# Public API


def facts_from_resources(
    patient: dict[str, Any] | None,
    sections: dict[str, SectionValue],
    *,
    patient_id: str | None = None,
    path_prefix: str = "",
) -> MappingResult:
    """Map a Patient plus prefetch-style sections (Bundle, list, single resource, None or MISSING)."""
    unknown = set(sections) - set(SECTION_TYPES)
    if unknown:
        raise ValueError(f"unknown section(s) {sorted(unknown)}; expected {list(SECTION_TYPES)}")
    warnings: list[str] = []
    patients: list[_Item] = []
    if patient is not None:
        holder = _Section()
        _add_value(holder, patient, f"{path_prefix}patient", "patient", warnings)
        patients = [item for item in holder.items if item.raw["resourceType"] == "Patient"]
        if len(patients) != len(holder.items):
            raise FhirInputError(f"{path_prefix}patient", "expected a Patient resource")
    built = {
        name: _section_from_value(name, sections.get(name, MISSING), f"{path_prefix}{name}", warnings)
        for name in SECTION_TYPES
    }
    return _run(patients, built, patient_id, warnings)


def facts_from_bundle(bundle: dict[str, Any], *, patient_id: str | None = None) -> MappingResult:
    """Map a Bundle taken as the complete record: a type with no entries means "none" ([])."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirInputError("resourceType", "expected a Bundle")
    warnings: list[str] = []
    whole = _Section()
    _add_bundle(whole, bundle, "", "bundle", warnings)
    return _from_whole_record(whole, patient_id, warnings)


def facts_from_ndjson_group(resources: list[dict[str, Any]]) -> MappingResult:
    """Map all resources of one patient from a bulk export (the whole record: absent types -> [])."""
    warnings: list[str] = []
    whole = _Section()
    for i, resource in enumerate(resources):
        _add_value(whole, resource, f"[{i}]", "export", warnings)
    return _from_whole_record(whole, None, warnings)


# ---------------------------------------------------------------------------------------------------------
# Collecting items (raw dicts with their JSON paths) and section state


def _sub(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _label(raw: dict[str, Any]) -> str:
    """`Type/id` for messages; an id that is not a valid FHIR id is not echoed."""
    rid = raw.get("id")
    return f"{raw.get('resourceType')}/{rid if isinstance(rid, str) and _ID.match(rid) else '(no valid id)'}"


def _resource_type(value: Any, path: str) -> str:
    if not isinstance(value, dict):
        raise FhirInputError(path, "expected a FHIR resource (JSON object)")
    rtype = value.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise FhirInputError(_sub(path, "resourceType"), "missing or not a string")
    return rtype


def _section_from_value(name: str, value: Any, path: str, warnings: list[str]) -> _Section | None:
    if value is MISSING:
        return None
    section = _Section()
    if isinstance(value, list):
        for i, resource in enumerate(value):
            _add_value(section, resource, f"{path}[{i}]", name, warnings)
    elif value is not None:
        _add_value(section, value, path, name, warnings)
    return section


def _add_value(section: _Section, value: Any, path: str, name: str, warnings: list[str]) -> None:
    rtype = _resource_type(value, path)
    if rtype == "Bundle":
        _add_bundle(section, value, path, name, warnings)
    elif rtype == "OperationOutcome":
        _note_outcome(section, value, name, warnings, bare=True)
    else:
        section.items.append(_Item(value, path, None))


def _add_bundle(section: _Section, bundle: dict[str, Any], path: str, name: str, warnings: list[str]) -> None:
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise FhirInputError(_sub(path, "entry"), "expected a list")
    for i, entry in enumerate(entries):
        entry_path = _sub(path, f"entry[{i}]")
        if not isinstance(entry, dict):
            raise FhirInputError(entry_path, "expected a Bundle entry (JSON object)")
        resource = entry.get("resource")
        if resource is None:
            continue  # e.g. a transaction-response entry: nothing to read
        resource_path = f"{entry_path}.resource"
        rtype = _resource_type(resource, resource_path)
        if rtype == "OperationOutcome":
            _note_outcome(section, resource, name, warnings, bare=False)
            continue
        if rtype == "Bundle":  # e.g. a batch-response holding one searchset per query
            _add_bundle(section, resource, resource_path, name, warnings)
            continue
        full_url = entry.get("fullUrl")
        section.items.append(_Item(resource, resource_path, full_url if isinstance(full_url, str) else None))
    links = bundle.get("link") or []
    if isinstance(links, list) and any(isinstance(x, dict) and x.get("relation") == "next" for x in links):
        section.incomplete = True
        warnings.append(f"{name}: more pages exist (Bundle next link); data may be incomplete")


def _note_outcome(
    section: _Section, outcome: dict[str, Any], name: str, warnings: list[str], *, bare: bool
) -> None:
    """Error outcomes (or an outcome instead of data) make the section unknown; warnings, incomplete.

    Read without validation: its meaning does not depend on the rest of it, and a malformed outcome
    must not turn a degraded answer into a failed request. Diagnostics text is never copied.
    """
    issues = outcome.get("issue")
    issues = issues if isinstance(issues, list) else []
    severities = {issue.get("severity") for issue in issues if isinstance(issue, dict)}
    if bare or severities & {"error", "fatal"}:
        section.unavailable = True
        warnings.append(f"{name}: the server returned an error (OperationOutcome); treated as not available")
    elif "warning" in severities:
        section.incomplete = True
        warnings.append(f"{name}: the server returned warnings (OperationOutcome); data may be incomplete")


def _from_whole_record(whole: _Section, patient_id: str | None, warnings: list[str]) -> MappingResult:
    """Split a complete record by type; every section is supplied, so absent types mean none."""
    sections = {name: _Section([], whole.unavailable, whole.incomplete) for name in SECTION_TYPES}
    patients: list[_Item] = []
    ignored: Counter[str] = Counter()
    for item in whole.items:
        rtype = item.raw["resourceType"]
        if rtype == "Patient":
            patients.append(item)
        elif rtype == "Medication" or rtype in _TYPE_SECTION:
            sections[_TYPE_SECTION.get(rtype, "medications")].items.append(item)
        else:
            ignored[rtype] += 1
    if ignored:
        warnings.append(f"ignored resources the rules do not use ({_kinds(ignored)})")
    return _run(patients, sections, patient_id, warnings)


def _kinds(counts: Counter[str]) -> str:
    return ", ".join(f"{count} {rtype}" for rtype, count in sorted(counts.items()))


# ---------------------------------------------------------------------------------------------------------
# Validation, filtering, dedupe, mapping


@cache
def _model_class(rtype: str) -> Any:
    return get_fhir_model_class(rtype)


def _join_loc(base: str, loc: tuple[int | str, ...]) -> str:
    """pydantic loc -> JSON path: ('code', 'coding', 0, 'code') -> 'code.coding[0].code'."""
    path = base
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "root" and _LOC_NAME.match(part):  # 'root' etc. are pydantic internals, not JSON
            path = _sub(path, f"_{part[:-5]}" if part.endswith("__ext") else part)
    return path


def _validate(item: _Item) -> Any:
    try:
        return _model_class(item.raw["resourceType"]).model_validate(item.raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        message = first["msg"]
        value = first.get("input")
        if isinstance(value, str | int | float) and str(value) and str(value) in message:
            message = message.replace(str(value), "<value>")  # never echo the offending value
        # `from None`: the chained pydantic error would print the input values.
        raise FhirInputError(_join_loc(item.path, first["loc"]), f"{_label(item.raw)}: {message}") from None


def _is_newer(candidate: Any, current: Any) -> bool:
    """Higher meta.versionId (when both numeric) wins, else later meta.lastUpdated; ties keep current."""
    new, old = candidate.meta, current.meta
    new_v, old_v = (m.versionId if m is not None else None for m in (new, old))
    if new_v and old_v and new_v.isdigit() and old_v.isdigit() and int(new_v) != int(old_v):
        return int(new_v) > int(old_v)
    new_t, old_t = (m.lastUpdated if m is not None else None for m in (new, old))
    return bool(new_t and old_t and new_t > old_t)


def _dedupe(pairs: list[tuple[_Item, Any]], warnings: list[str]) -> list[tuple[_Item, Any]]:
    kept: dict[Any, tuple[_Item, Any]] = {}
    for item, model in pairs:
        key: Any = f"{item.raw['resourceType']}/{model.id}" if model.id else id(item)
        if key not in kept:
            kept[key] = (item, model)
            continue
        warnings.append(f"{key}: supplied more than once; kept the newest version")
        if _is_newer(model, kept[key][1]):
            kept[key] = (item, model)
    return list(kept.values())


def reference_target(reference: str) -> tuple[str | None, str | None]:
    """(type, id) of a literal reference: relative, absolute URL (with _history) or urn:uuid (type None).

    Conditional (`Patient?identifier=...`), contained (`#x`) and other URNs give (None, None).
    """
    if reference.startswith("urn:uuid:"):
        return None, reference[9:]
    if "?" in reference or reference.startswith(("#", "urn:")):
        return None, None
    parts = reference.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return (parts[-2], parts[-1]) if len(parts) >= 2 else (None, None)


def _is_patient(ref: Any, patient_id: str, urls: set[str]) -> bool | None:
    """True/False when the reference does/doesn't point to the patient; None when it can't be told."""
    reference = ref.reference if ref is not None else None
    if not reference:
        return None
    if reference in urls:
        return True
    rtype, rid = reference_target(reference)
    if rid is None:
        return None
    return rtype in (None, "Patient") and rid == patient_id


def _own(
    pairs: list[tuple[_Item, Any]], patient_id: str | None, urls: set[str], warnings: list[str]
) -> list[tuple[_Item, Any]]:
    """Drop entries about another patient (defence against mixed bundles)."""
    if patient_id is None:
        return pairs
    kept = []
    for item, model in pairs:
        subject = model.patient if item.raw["resourceType"] == "AllergyIntolerance" else model.subject
        verdict = _is_patient(subject, patient_id, urls)
        if verdict is False:
            warnings.append(f"dropped {_label(item.raw)}: subject is another patient")
            continue
        if verdict is None:
            warnings.append(f"{_label(item.raw)}: subject could not be checked; kept")
        kept.append((item, model))
    return kept


def _medication_resolver(meds: list[tuple[_Item, Any]]) -> Callable[[str | None, list[Any]], Any]:
    index: dict[str, Any] = {}
    for item, model in meds:
        if model.id:
            index[f"Medication/{model.id}"] = model
        if item.full_url:
            index[item.full_url] = model

    def resolve(reference: str | None, contained: list[Any]) -> Any:
        if not reference:
            return None
        if reference.startswith("#"):
            found = (r for r in contained if r.id == reference[1:] and r.get_resource_type() == "Medication")
            return next(found, None)
        if reference in index:
            return index[reference]
        rtype, rid = reference_target(reference)
        return index.get(f"Medication/{rid}") if rid and rtype in (None, "Medication") else None

    return resolve


def _choose_patient(
    patients: list[_Item], patient_id: str | None, warnings: list[str]
) -> tuple[_Item | None, Any]:
    if not patients:
        return None, None
    pairs = [(item, _validate(item)) for item in patients]
    if patient_id is not None:
        matching = [(item, model) for item, model in pairs if model.id in (patient_id, None)]
        if not matching:
            raise FhirInputError(_sub(pairs[0][0].path, "id"), "the Patient is not the requested patient")
        if len(matching) < len(pairs):
            warnings.append("ignored Patient resources other than the requested patient")
        pairs = matching
    elif len({model.id for _, model in pairs}) > 1:
        raise FhirInputError(pairs[1][0].path, "several different Patients: the patient is ambiguous")
    return _dedupe(pairs, warnings)[-1]


def _map_item(item: _Item, model: Any, ctx: MapContext) -> list[Any]:
    rtype = item.raw["resourceType"]
    source = f"{rtype}/{model.id}" if model.id else f"{rtype} at {item.path or 'resource'}"
    try:
        return MAPPERS[rtype](model, source, ctx)
    except ValidationError as exc:  # a validated FHIR value the fact model cannot hold (e.g. year 0001)
        loc = ".".join(str(part) for part in exc.errors(include_url=False)[0]["loc"])
        raise FhirInputError(item.path, f"{_label(item.raw)}: value cannot be used ({loc})") from None


def _split(
    sections: dict[SectionName, _Section | None], warnings: list[str]
) -> tuple[dict[SectionName, list[tuple[_Item, Any]]], list[tuple[_Item, Any]]]:
    """Validate each usable item once; Medication side resources are pooled for reference resolution."""
    usable: dict[SectionName, list[tuple[_Item, Any]]] = {}
    medications: list[tuple[_Item, Any]] = []
    for name, section in sections.items():
        if section is None or section.unavailable:
            continue
        usable[name] = []
        ignored: Counter[str] = Counter()
        for item in section.items:
            rtype = item.raw["resourceType"]
            if rtype == "Medication":
                medications.append((item, _validate(item)))
            elif rtype in SECTION_TYPES[name]:
                usable[name].append((item, _validate(item)))
            else:
                ignored[rtype] += 1
        if ignored:
            warnings.append(f"{name}: ignored resources of unexpected type ({_kinds(ignored)})")
    return usable, medications


def _run(
    patients: list[_Item],
    sections: dict[SectionName, _Section | None],
    patient_id: str | None,
    warnings: list[str],
) -> MappingResult:
    patient_item, patient = _choose_patient(patients, patient_id, warnings)
    pid = patient_id or (patient.id if patient is not None else None)
    urls = {patient_item.full_url} if patient_item is not None and patient_item.full_url else set()
    birth_date = date_str(patient.birthDate) if patient is not None else None
    usable, medications = _split(sections, warnings)
    ctx = MapContext(birth_date, _medication_resolver(_dedupe(medications, warnings)), warnings)
    mapped: dict[str, list[Any] | None] = {}
    for name in SECTION_TYPES:
        if name not in usable:
            mapped[name] = None
            continue
        pairs = _dedupe(_own(usable[name], pid, urls, warnings), warnings)
        mapped[name] = [fact for item, model in pairs for fact in _map_item(item, model, ctx)]
    incomplete = [n for n, s in sections.items() if n in usable and s is not None and s.incomplete]
    deceased = patient is not None and (bool(patient.deceasedBoolean) or patient.deceasedDateTime is not None)
    facts = PatientFacts(
        source=f"Patient/{pid}" if pid else "Patient",
        birth_date=birth_date,
        sex=patient.gender if patient is not None and patient.gender in _SEXES else None,
        deceased=deceased,
        incomplete=incomplete,
        **mapped,
    )
    return MappingResult(facts=facts, warnings=warnings)
