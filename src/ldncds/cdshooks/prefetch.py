"""Prefetch templates, and what could be had for each key: from the prefetch or from the FHIR server.

Per CDS Hooks 2.0.1 section 4.3: a key present with `null` means "looked, found nothing"; an absent key
is fetched from `fhirServer` with the `fhirAuthorization` token when there is one, and is otherwise
unknown (MISSING). Search filters in the templates are a courtesy to the EHR: the FHIR adapter
re-checks every status, so a client that ignores them cannot change the answer.

Engine workers read this module (they rebuild a request's Gathered); the fetching itself is in
`fetch`, which only the server process imports (asyncio, httpx and the network stay out of workers).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ldncds.engine import DataNote
from ldncds.fhir import MISSING

PATIENT = "{{context.patientId}}"


@dataclass(frozen=True)
class PrefetchKey:
    key: str
    template: str
    section: str  # "patient" or a section of ldncds.fhir.facts_from_resources
    is_read: bool = False
    # The section's own key: when it fails the section is unknown. Another key feeding the same
    # section (statements, dispenses, ...) that fails or is absent leaves the section usable, named.
    primary: bool = False
    label: str = ""


def _search(rtype: str, query: str = "") -> str:
    return f"{rtype}?patient={PATIENT}{query}"


def _with_medication(rtype: str) -> str:
    # _include brings the Medication a medicationReference points to into the same Bundle.
    return _search(rtype, f"&_include={rtype}:medication")


# No status filter on medications: the washout rules need opioids that stopped recently. No code or
# category filter on observations: a positive opiate screen may sit in a panel's component or lack a
# category; newest first, so the page limit drops only the oldest. Required (412 when unavailable)
# is what US Core guarantees: Patient, Condition, MedicationRequest, AllergyIntolerance.
PREFETCH_KEYS: tuple[PrefetchKey, ...] = (
    PrefetchKey("patient", f"Patient/{PATIENT}", "patient", is_read=True, primary=True, label="Patient"),
    PrefetchKey("conditions", _search("Condition"), "conditions", primary=True, label="Condition"),
    PrefetchKey(
        "medications",
        _with_medication("MedicationRequest"),
        "medications",
        primary=True,
        label="MedicationRequest",
    ),  # fmt: skip
    PrefetchKey(
        "medicationStatements",
        _with_medication("MedicationStatement"),
        "medications",
        label="MedicationStatement",
    ),  # fmt: skip
    PrefetchKey(
        "medicationDispenses",
        _with_medication("MedicationDispense"),
        "medications",
        label="MedicationDispense",
    ),  # fmt: skip
    PrefetchKey(
        "medicationAdministrations",
        _with_medication("MedicationAdministration"),
        "medications",
        label="MedicationAdministration",
    ),  # fmt: skip
    PrefetchKey("procedures", _search("Procedure"), "procedures", primary=True, label="Procedure"),
    PrefetchKey(
        "serviceRequests",
        _search("ServiceRequest", "&status=active,draft"),
        "procedures",
        label="ServiceRequest (planned procedures)",
    ),  # fmt: skip
    PrefetchKey(
        "appointments",
        _search("Appointment", "&status=booked,pending"),
        "procedures",
        label="Appointment (planned procedures)",
    ),  # fmt: skip
    PrefetchKey(
        "allergies", _search("AllergyIntolerance"), "allergies", primary=True, label="AllergyIntolerance"
    ),
    PrefetchKey(
        "observations",
        _search("Observation", "&_sort=-date&_count=100"),
        "observations",
        primary=True,
        label="Observation",
    ),  # fmt: skip
)
TEMPLATES: dict[str, str] = {k.key: k.template for k in PREFETCH_KEYS}
REQUIRED_KEYS: tuple[str, ...] = ("patient", "conditions", "medications", "allergies")
# Medications referenced but neither included nor contained, read one by one from fhirServer.
RESOLVED_MEDICATIONS = "medicationReferences"
_TOKEN = re.compile(r"\{\{\s*context\.(\w+)\s*\}\}")


def render(template: str, context: Mapping[str, Any]) -> str | None:
    """Fill `{{context.x}}` tokens (URL-quoted); None when a token has no primitive value."""
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        value = context.get(match.group(1))
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            missing = True
            return ""
        return quote(str(value), safe="")

    rendered = _TOKEN.sub(fill, template)
    return None if missing else rendered


def _is_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def _error_outcome(resource: Any) -> bool:
    issues = resource.get("issue") if _is_outcome(resource) else None
    return isinstance(issues, list) and any(
        isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues
    )


def failed(value: Any) -> bool:
    """The client hit an error fetching it: a bare OperationOutcome, or a Bundle with an error outcome."""
    if _is_outcome(value):
        return True
    entries = (
        value.get("entry") if isinstance(value, dict) and value.get("resourceType") == "Bundle" else None
    )
    return isinstance(entries, list) and any(
        isinstance(e, dict) and _error_outcome(e.get("resource")) for e in entries
    )


def has_next(value: Any) -> bool:
    links = value.get("link") if isinstance(value, dict) and value.get("resourceType") == "Bundle" else None
    return isinstance(links, list) and any(isinstance(x, dict) and x.get("relation") == "next" for x in links)


@dataclass
class AdapterInput:
    """Arguments for `ldncds.fhir.facts_from_resources`, where each piece came from (for error paths),
    and the notes on keys that were absent or failed (named in the answer)."""

    patient: dict[str, Any] | None
    sections: dict[str, Any]
    origins: dict[str, list[str]]
    patient_origin: str
    notes: list[DataNote] = field(default_factory=list)

    def locate(self, path: str) -> str:
        """An adapter path ('medications[1].entry[0]') as a path in the request ('prefetch.x.entry[0]')."""
        match = _PIECE.match(path)
        if match and match[1] in self.origins and int(match[2]) < len(self.origins[match[1]]):
            return self.origins[match[1]][int(match[2])] + match[3]
        if path.startswith("patient"):
            return self.patient_origin + path[len("patient") :]
        return path


_PIECE = re.compile(r"^(\w+)\[(\d+)\](.*)$")
_BY_KEY = {k.key: k for k in PREFETCH_KEYS}


@dataclass(frozen=True)
class Fetched:
    """What the server read from fhirServer, as a change to the request's own prefetch: the value of
    every key that differs from it (fetched, completed pages, MISSING) and the keys fetched. With the
    raw request it rebuilds the Gathered in an engine worker, so the prefetch is never sent twice."""

    values: dict[str, Any]
    fetched: tuple[str, ...]


@dataclass
class Gathered:
    """What could be had for each prefetch key; `values[key]` is a value, None or MISSING."""

    values: dict[str, Any] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    @classmethod
    def over(cls, prefetch: Mapping[str, Any], change: Fetched | None = None) -> Gathered:
        """The prefetch as `gather` takes it, with what was fetched: `over(p)` is `gather(p, ctx, None)`."""
        values = {key.key: prefetch.get(key.key, MISSING) for key in PREFETCH_KEYS}
        if change is None:
            return cls(values)
        return cls(values | change.values, list(change.fetched))

    def change_to(self, prefetch: Mapping[str, Any]) -> Fetched:
        """What this holds beyond `prefetch` (the inverse of `over`)."""
        values = {k: v for k, v in self.values.items() if prefetch.get(k, MISSING) is not v}
        return Fetched(values, tuple(self.fetched))

    def missing(self, keys: list[str] | tuple[str, ...]) -> list[str]:
        """Keys with nothing usable: absent and not fetched, or only an OperationOutcome (an error)."""
        return [k for k in keys if self.values.get(k, MISSING) is MISSING or _is_outcome(self.values[k])]

    def _origin(self, key: str) -> str:
        return f"fetched.{key}" if key in self.fetched else f"prefetch.{key}"

    def adapter_input(self) -> AdapterInput:
        sections: dict[str, Any] = {}
        origins: dict[str, list[str]] = {}
        notes: list[DataNote] = []
        for key in PREFETCH_KEYS:
            value = self.values.get(key.key, MISSING)
            if key.section == "patient":
                continue
            if not key.primary and (value is MISSING or failed(value)):
                notes.append(_key_note(key, value))
                continue  # the section stays usable without this part, and the answer says so
            if value is MISSING:
                if key.key not in REQUIRED_KEYS:
                    notes.append(_key_note(key, value))
                continue
            sections[key.section] = [*sections.get(key.section, []), *([] if value is None else [value])]
            origins[key.section] = [
                *origins.get(key.section, []),
                *([] if value is None else [self._origin(key.key)]),
            ]
        if (resolved := self.values.get(RESOLVED_MEDICATIONS)) and "medications" in sections:
            sections["medications"].append(resolved)
            origins["medications"].append(f"fetched.{RESOLVED_MEDICATIONS}")
        patient = self.values.get("patient", MISSING)
        return AdapterInput(
            patient=None if patient is MISSING else patient,
            sections=sections,
            origins=origins,
            patient_origin=self._origin("patient"),
            notes=notes,
        )


def _key_note(key: PrefetchKey, value: Any) -> DataNote:
    if value is MISSING:
        reason = f"{key.label} records were not supplied (prefetch key {key.key}) and could not be fetched"
    else:
        reason = f"the EHR answered the {key.label} search with an error (prefetch key {key.key})"
    section = key.section if key.section != "patient" else None
    return DataNote(source=f"prefetch.{key.key}", section=section, reason=reason, severity="caveat")  # type: ignore[arg-type]


__all__ = [
    "PREFETCH_KEYS",
    "REQUIRED_KEYS",
    "TEMPLATES",
    "AdapterInput",
    "Fetched",
    "Gathered",
    "PrefetchKey",
    "failed",
    "has_next",
    "render",
]
