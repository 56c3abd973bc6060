"""FHIR R4 JSON (prefetch sections, Bundles, bulk-export groups) -> engine `PatientFacts`.

Resources are validated one by one, then facts are read from the validated models, so each resource
is parsed once. Validation (setting `fhir_validation`, or the `validation` argument):

- "lean" (default): the lean models of `fhir.lean` (the same FHIR type rules, without fhir.resources'
  per-element Python validators). A resource they cannot vouch for (invalid, or using an element they
  do not model) is validated with fhir.resources instead, so lean and full accept the same records
  and every error, with its field path, is full validation's.
- "full": every resource with the fhir.resources R4B classes (R4B = R4 for every type read here).

A timed record (a dateTime with a time, an instant) falls on the site's calendar day: setting
`site_timezone`, or the `site_timezone` argument, the zone whose today is the evaluation date.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from functools import cache
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ldncds.engine import DataNote, PatientFacts, facts
from ldncds.fhir import lean
from ldncds.fhir.mappers import MAPPERS, MapContext, Severity, dispense_supply
from ldncds.fhir.references import parse_reference
from ldncds.fhir.values import concept, date_str, later, pick

SectionName = Literal["conditions", "medications", "procedures", "allergies", "observations"]
SECTION_TYPES: dict[SectionName, tuple[str, ...]] = {
    "conditions": ("Condition",),
    "medications": (
        "MedicationRequest",
        "MedicationStatement",
        "MedicationDispense",
        "MedicationAdministration",
    ),
    "procedures": ("Procedure", "ServiceRequest", "Appointment"),
    "allergies": ("AllergyIntolerance",),
    "observations": ("Observation",),
}
SECTIONS: tuple[SectionName, ...] = get_args(SectionName)
_TYPE_SECTION: dict[str, SectionName] = {t: name for name, types in SECTION_TYPES.items() for t in types}
Sex = Literal["female", "male", "other", "unknown"]
_SEXES: tuple[Sex, ...] = get_args(Sex)
Validation = Literal["lean", "full"]
# A validated resource: a `fhir.lean` model, or a fhir.resources one (same attribute names).
Model = Any
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

    @property
    def notes(self) -> list[DataNote]:
        return self.facts.notes


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


@cache
def configured_validation() -> Validation:
    """The `fhir_validation` setting, read once per process (LDNCDS_FHIR_VALIDATION or the config file)."""
    from ldncds.settings import Settings

    return Settings().fhir_validation


@cache
def configured_zone() -> tzinfo:
    """The `site_timezone` setting, read once per process: a timed record's day is the site's day."""
    from ldncds.settings import Settings

    return ZoneInfo(Settings().site_timezone)


class _Log(list[str]):
    """Mapping warnings (plain lines, for logs and tests) plus the DataNotes the caller is shown.

    `strict`: a record that fails FHIR validation raises FhirInputError (the caller answers 4xx or,
    like screening, drops it by file and line). Not strict: it becomes an "unreadable" DataNote and
    its section is incomplete, so one bad record never costs the whole answer. `validation`: lean or
    full (module docstring); `site_timezone`: the IANA zone of the site's calendar; None: the
    configured ones (the server passes its own to the workers, which read no settings).
    """

    def __init__(
        self,
        *,
        strict: bool = True,
        validation: Validation | None = None,
        site_timezone: str | None = None,
    ) -> None:
        super().__init__()
        self.notes: list[DataNote] = []
        self.strict = strict
        self.validation: Validation = validation or configured_validation()
        self.zone: tzinfo = ZoneInfo(site_timezone) if site_timezone else configured_zone()

    def note(
        self,
        source: str,
        section: str | None,
        reason: str,
        severity: Severity = "caveat",
        codes: list[facts.Coding] | None = None,
    ) -> None:
        self.append(f"{source}: {reason}")
        self.notes.append(
            DataNote(
                source=source[:512],
                section=pick(section, SECTIONS),
                reason=reason[:1024],
                severity=severity,
                codes=codes or [],
            )
        )


# ---------------------------------------------------------------------------------------------------------
# Public API


def facts_from_resources(
    patient: dict[str, Any] | None,
    sections: dict[str, SectionValue],
    *,
    patient_id: str | None = None,
    path_prefix: str = "",
    strict: bool = True,
    validation: Validation | None = None,
    site_timezone: str | None = None,
) -> MappingResult:
    """Map a Patient plus prefetch-style sections (Bundle, list, single resource, None or MISSING)."""
    unknown = set(sections) - set(SECTION_TYPES)
    if unknown:
        raise ValueError(f"unknown section(s) {sorted(unknown)}; expected {list(SECTION_TYPES)}")
    warnings = _Log(strict=strict, validation=validation, site_timezone=site_timezone)
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


def facts_from_bundle(
    bundle: dict[str, Any],
    *,
    patient_id: str | None = None,
    strict: bool = True,
    validation: Validation | None = None,
    site_timezone: str | None = None,
) -> MappingResult:
    """Map a Bundle taken as the complete record: a type with no entries means "none" ([])."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirInputError("resourceType", "expected a Bundle")
    warnings = _Log(strict=strict, validation=validation, site_timezone=site_timezone)
    whole = _Section()
    _add_bundle(whole, bundle, "", "bundle", warnings)
    return _from_whole_record(whole, patient_id, warnings)


def facts_from_ndjson_group(
    resources: list[dict[str, Any]],
    *,
    strict: bool = True,
    validation: Validation | None = None,
    site_timezone: str | None = None,
) -> MappingResult:
    """Map all resources of one patient from a bulk export (the whole record: absent types -> [])."""
    warnings = _Log(strict=strict, validation=validation, site_timezone=site_timezone)
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


def _section_from_value(name: str, value: Any, path: str, warnings: _Log) -> _Section | None:
    if value is MISSING:
        return None
    section = _Section()
    if isinstance(value, list):
        for i, resource in enumerate(value):
            _add_value(section, resource, f"{path}[{i}]", name, warnings)
    elif value is not None:
        _add_value(section, value, path, name, warnings)
    return section


def _add_value(section: _Section, value: Any, path: str, name: str, warnings: _Log) -> None:
    rtype = _resource_type(value, path)
    if rtype == "Bundle":
        _add_bundle(section, value, path, name, warnings)
    elif rtype == "OperationOutcome":
        _note_outcome(section, value, name, warnings, bare=True)
    else:
        section.items.append(_Item(value, path, None))


def _add_bundle(section: _Section, bundle: dict[str, Any], path: str, name: str, warnings: _Log) -> None:
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
        warnings.note(f"{name} search", name, "more pages exist (Bundle next link) and were not read")
    elif _truncated(bundle, entries):
        section.incomplete = True
        warnings.note(
            f"{name} search", name,
            f"the search found {bundle['total']} records but only {_matches(entries)} were sent",
        )  # fmt: skip


def _matches(entries: list[Any]) -> int:
    """Search hits in a page (`total` counts matches only: not included or outcome entries)."""
    return sum(
        1
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(entry.get("resource"), dict)
        and entry["resource"].get("resourceType") != "OperationOutcome"
        and (entry["search"] if isinstance(entry.get("search"), dict) else {}).get("mode", "match") == "match"
    )


def _truncated(bundle: dict[str, Any], entries: list[Any]) -> bool:
    """A searchset whose `total` is larger than the hits it carries, with no page left to follow."""
    total = bundle.get("total")
    if bundle.get("type") not in (None, "searchset") or not isinstance(total, int) or isinstance(total, bool):
        return False
    return total > _matches(entries)


def _note_outcome(
    section: _Section, outcome: dict[str, Any], name: str, warnings: _Log, *, bare: bool
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
        reason = "the server returned an error (OperationOutcome); this section is not available"
        warnings.note(f"{name} search", name, reason, "unreadable")
    elif "warning" in severities:
        section.incomplete = True
        reason = "the server returned warnings (OperationOutcome); data may be incomplete"
        warnings.note(f"{name} search", name, reason)


def _from_whole_record(whole: _Section, patient_id: str | None, warnings: _Log) -> MappingResult:
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
    for rtype, count in sorted(ignored.items()):
        warnings.note(rtype, None, f"{count} {rtype} record(s) not read: the rules do not use this type")
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


def _validate(item: _Item, validation: Validation) -> Model:
    """The resource's validated model; lean when the lean models vouch for it, else fhir.resources'."""
    model = _vouched(item, validation)
    return model if model is not None else _validate_full(item)


def _vouched(item: _Item, validation: Validation) -> Model | None:
    """The lean model, when lean validation is on and the lean models vouch for the resource."""
    return lean.parse(item.raw) if validation == "lean" else None


def _validate_full(item: _Item) -> Model:
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
    except (TypeError, KeyError):  # fhir.resources crashes on a contained resource of no known type
        where = _unknown_contained(item.raw, item.path) or item.path
        raise FhirInputError(where, f"{_label(item.raw)}: not a FHIR resource type") from None


def _unknown_contained(resource: dict[str, Any], path: str) -> str | None:
    """Path of the first `contained[i].resourceType` that names no FHIR resource, at any depth."""
    contained = resource.get("contained")
    for i, entry in enumerate(contained if isinstance(contained, list) else []):
        if not isinstance(entry, dict):
            continue
        here = f"{_sub(path, 'contained')}[{i}]"
        if "resourceType" in entry and not _is_resource_type(entry["resourceType"]):
            return f"{here}.resourceType"
        if found := _unknown_contained(entry, here):
            return found
    return None


def _is_resource_type(rtype: object) -> bool:
    try:
        return isinstance(rtype, str) and _model_class(rtype) is not None
    except ValueError:
        return False


def _is_newer(candidate: Model, current: Model) -> bool:
    """Higher meta.versionId (when both numeric) wins, else later meta.lastUpdated; ties keep current."""
    new, old = candidate.meta, current.meta
    new_v, old_v = (m.versionId if m is not None else None for m in (new, old))
    if new_v and old_v and new_v.isdigit() and old_v.isdigit() and int(new_v) != int(old_v):
        return int(new_v) > int(old_v)
    new_t, old_t = (m.lastUpdated if m is not None else None for m in (new, old))
    return bool(new_t and old_t and new_t > old_t)


def _dedupe(pairs: list[tuple[_Item, Model]], warnings: _Log) -> list[tuple[_Item, Model]]:
    """One entry per `Type/id`: the newest version; copies that differ and cannot be ordered all stay.

    Keeping only the first of two unorderable versions could drop the one that blocks (an active
    opioid order), so both are kept for the rules and the caller is told.
    """
    kept: dict[Any, list[tuple[_Item, Model]]] = {}
    for item, model in pairs:
        key: Any = f"{item.raw['resourceType']}/{model.id}" if model.id else id(item)
        versions = kept.setdefault(key, [])
        if not versions:
            versions.append((item, model))
            continue
        warnings.append(f"{key}: supplied more than once; kept the newest version")
        before = len(versions)
        _merge_version(versions, item, model)
        if len(versions) > before:
            reason = "supplied twice with different content and no version or update time; both copies used"
            warnings.note(key, _TYPE_SECTION.get(item.raw["resourceType"]), reason)
    return [version for versions in kept.values() for version in versions]


def _content(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != "meta"}


def _merge_version(versions: list[tuple[_Item, Model]], item: _Item, model: Model) -> None:
    """Add one more copy of an id: replace older copies, drop identical ones, keep unorderable ones."""
    if any(_content(v[0].raw) == _content(item.raw) for v in versions):
        return
    if all(_is_newer(model, v[1]) for v in versions):
        versions[:] = [(item, model)]
    elif not any(_is_newer(v[1], model) for v in versions):
        versions.append((item, model))


def reference_target(reference: str) -> tuple[str | None, str | None]:
    """(type, id) of a literal reference (see `ldncds.fhir.references.parse_reference`)."""
    return parse_reference(reference)


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


def _belongs(rtype: str, model: Model, patient_id: str, urls: set[str]) -> bool | None:
    """Whether a resource is about the patient; an Appointment is when the patient takes part."""
    if rtype == "AllergyIntolerance":
        return _is_patient(model.patient, patient_id, urls)
    if rtype != "Appointment":
        return _is_patient(model.subject, patient_id, urls)
    verdicts = {_is_patient(p.actor, patient_id, urls) for p in model.participant or []}
    if True in verdicts:
        return True
    return False if _any_patient(model) else None  # another patient's appointment, or unclear


def _any_patient(appointment: Any) -> bool:
    """An Appointment with some Patient participant (other participants are clinicians, rooms...)."""
    return any(
        parse_reference(p.actor.reference if p.actor is not None else None).type == "Patient"
        for p in appointment.participant or []
    )


def _own(
    pairs: list[tuple[_Item, Model]], patient_id: str | None, urls: set[str], warnings: _Log
) -> list[tuple[_Item, Model]]:
    """Drop entries about another patient (defence against mixed bundles)."""
    if patient_id is None:
        return pairs
    kept = []
    for item, model in pairs:
        verdict = _belongs(item.raw["resourceType"], model, patient_id, urls)
        if verdict is False:
            warnings.append(f"dropped {_label(item.raw)}: subject is another patient")
            continue
        if verdict is None:
            warnings.append(f"{_label(item.raw)}: subject could not be checked; kept")
        kept.append((item, model))
    return kept


def _medication_resolver(meds: list[tuple[_Item, Model]]) -> Callable[[str | None, list[Any]], Any]:
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
    patients: list[_Item], patient_id: str | None, warnings: _Log
) -> tuple[_Item | None, Model]:
    if not patients:
        return None, None
    pairs = [(item, _validate(item, warnings.validation)) for item in patients]
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


def _map_item(item: _Item, model: Model, ctx: MapContext) -> list[Any]:
    rtype = item.raw["resourceType"]
    source = f"{rtype}/{model.id}" if model.id else f"{rtype} at {item.path or 'resource'}"
    try:
        return MAPPERS[rtype](model, source, ctx)
    except ValidationError as exc:  # a validated FHIR value the fact model cannot hold (e.g. year 0001)
        loc = ".".join(str(part) for part in exc.errors(include_url=False)[0]["loc"])
        raise FhirInputError(item.path, f"{_label(item.raw)}: value cannot be used ({loc})") from None


def _has_modifier(resource: dict[str, Any]) -> bool:
    """A `modifierExtension` anywhere in the resource (resource level or any backbone element)."""
    stack: list[Any] = [resource]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if value.get("modifierExtension"):
                return True
            stack.extend(v for v in value.values() if isinstance(v, dict | list))
        else:
            stack.extend(v for v in value if isinstance(v, dict | list))
    return False


def _dispense_ends(pairs: list[tuple[_Item, Model]], ctx: MapContext) -> dict[str, str]:
    """`MedicationRequest/<id>` -> the latest end of supply among the dispenses that fill it."""
    ends: dict[str, str] = {}
    for item, model in pairs:
        if item.raw["resourceType"] != "MedicationDispense" or model.status == "entered-in-error":
            continue
        _, end = dispense_supply(model, model.dosageInstruction or [], _label(item.raw), ctx)
        for ref in model.authorizingPrescription or []:
            target = parse_reference(ref.reference)
            if end and target.id and target.type in (None, "MedicationRequest"):
                key = f"MedicationRequest/{target.id}"
                ends[key] = later(ends.get(key), end) or end
    return ends


def _read(item: _Item, section: _Section, name: str, warnings: _Log) -> Model | None:
    """The validated model, or None with an "unreadable" note and the section incomplete: when it
    carries a modifierExtension, or (not strict) is invalid."""
    model = _vouched(item, warnings.validation)
    if model is not None:
        return model  # the lean models refuse modifierExtension: a record they vouch for has none
    if _has_modifier(item.raw):
        _note_modifier(item, section, name, warnings)
        return None
    try:
        return _validate_full(item)
    except FhirInputError as exc:
        if warnings.strict:
            raise
        section.incomplete = True
        where = exc.path.removeprefix(item.path).lstrip(".") or "resource"
        reason = f"could not be read (invalid FHIR at {where}: {exc.message.split(': ', 1)[-1]})"
        warnings.note(_label(item.raw), name, reason, "unreadable", _readable_codes(item.raw))
        return None


def _readable_codes(raw: dict[str, Any]) -> list[facts.Coding]:
    """The codes of an unreadable Condition when its `code` alone is valid: the record stays
    unread, but the patient-view gate learns that it may be the qualifying diagnosis."""
    if raw.get("resourceType") != "Condition" or not isinstance(raw.get("code"), dict):
        return []
    try:
        return concept(lean.CodeableConcept.model_validate(raw["code"]))[0]
    except (ValidationError, ValueError):
        return []


def _note_modifier(item: _Item, section: _Section, name: str, warnings: _Log) -> None:
    # FHIR: a resource with a modifier extension it does not know must not be processed as if the
    # extension were absent. ldncds knows none, so the record is unreadable.
    section.incomplete = True
    reason = "carries a modifierExtension that changes its meaning; not read"
    warnings.note(_label(item.raw), name, reason, "unreadable", _readable_codes(item.raw))


def _split(
    sections: Mapping[SectionName, _Section | None], warnings: _Log
) -> tuple[dict[SectionName, list[tuple[_Item, Model]]], list[tuple[_Item, Model]]]:
    """Validate each usable item once; Medication side resources are pooled for reference resolution."""
    usable: dict[SectionName, list[tuple[_Item, Model]]] = {}
    medications: list[tuple[_Item, Model]] = []
    for name, section in sections.items():
        if section is None or section.unavailable:
            continue
        usable[name] = []
        ignored: Counter[str] = Counter()
        for item in section.items:
            rtype = item.raw["resourceType"]
            if rtype != "Medication" and rtype not in SECTION_TYPES[name]:
                if _has_modifier(item.raw):
                    _note_modifier(item, section, name, warnings)
                else:
                    ignored[rtype] += 1
            elif (model := _read(item, section, name, warnings)) is not None:
                (medications if rtype == "Medication" else usable[name]).append((item, model))
        if ignored:
            warnings.append(f"{name}: ignored resources of unexpected type ({_kinds(ignored)})")
        for rtype, count in sorted(ignored.items()):
            warnings.note(rtype, name, f"{count} {rtype} record(s) in the {name} section not read")
    return usable, medications


def _map_section(
    name: str, pairs: list[tuple[_Item, Model]], section: _Section | None, ctx: MapContext, warnings: _Log
) -> list[Any]:
    out: list[Any] = []
    for item, model in pairs:
        try:
            out += _map_item(item, model, ctx)
        except FhirInputError as exc:
            if warnings.strict or section is None:
                raise
            section.incomplete = True
            reason = exc.message.split(": ", 1)[-1]
            warnings.note(_label(item.raw), name, reason, "unreadable", _readable_codes(item.raw))
    return out


def _run(
    patients: list[_Item],
    sections: Mapping[SectionName, _Section | None],
    patient_id: str | None,
    warnings: _Log,
) -> MappingResult:
    patient_item, patient = _choose_patient(patients, patient_id, warnings)
    pid = patient_id or (patient.id if patient is not None else None)
    urls = {patient_item.full_url} if patient_item is not None and patient_item.full_url else set()
    birth_date = date_str(patient.birthDate) if patient is not None else None
    usable, medications = _split(sections, warnings)
    ctx = MapContext(birth_date, _medication_resolver(_dedupe(medications, warnings)), warnings)
    ctx.zone = warnings.zone
    ctx.notes = warnings.notes
    owned = {name: _dedupe(_own(pairs, pid, urls, warnings), warnings) for name, pairs in usable.items()}
    ctx.dispense_ends = _dispense_ends(owned.get("medications", []), ctx)
    mapped: dict[str, list[Any] | None] = {}
    for name in SECTION_TYPES:
        pairs = owned.get(name)
        mapped[name] = None if pairs is None else _map_section(name, pairs, sections[name], ctx, warnings)
    incomplete = [n for n, s in sections.items() if n in usable and s is not None and s.incomplete]
    deceased = patient is not None and (bool(patient.deceasedBoolean) or patient.deceasedDateTime is not None)
    deceased_on = date_str(patient.deceasedDateTime, ctx.zone) if patient is not None else None
    facts = PatientFacts(
        source=f"Patient/{pid}" if pid else "Patient",
        birth_date=birth_date,
        sex=pick(patient.gender, _SEXES) if patient is not None else None,
        deceased=deceased,
        deceased_on=deceased_on,
        incomplete=incomplete,
        notes=list(ctx.notes),
        **mapped,
    )
    return MappingResult(facts=facts, warnings=warnings)
