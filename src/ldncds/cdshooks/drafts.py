"""Draft orders (order-select / order-sign) read leniently: only what the safety check needs.

Real clients send drafts that are not valid R4 (the CDS Hooks sandbox sends `category` and
`reasonCode` as objects and no `intent`). Refusing them with a 400 would skip the naltrexone-on-
opioid check, so each draft is cut down to the fields the check reads (medication code/text, status,
dosage) and read alone; a draft whose dosage cannot be read is checked without it, and one whose
medication cannot be read gets a card saying it could not be checked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from ldncds.engine import Medication
from ldncds.fhir import FhirInputError, facts_from_resources
from ldncds.fhir.adapter import Validation

from .cards import SOURCE_LABEL
from .models import Card, Source

_ORDER_FIELDS = (
    "resourceType", "id", "meta", "status", "intent", "medicationCodeableConcept", "medicationReference",
    "contained", "subject", "authoredOn", "dosageInstruction",
)  # fmt: skip
_MEDICATION_FIELDS = ("resourceType", "id", "code", "ingredient")


@dataclass
class Drafts:
    medications: list[Medication] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # "MedicationRequest/<id>" or entry position


def read_drafts(
    bundle: dict[str, Any],
    patient_id: str,
    validation: Validation | None = None,
    site_timezone: str | None = None,
) -> Drafts:
    """Each draft MedicationRequest as a Medication fact, or named as unreadable (read with the
    server's settings `validation` and `site_timezone`; None: this process's)."""
    entry = bundle.get("entry")
    entries = entry if isinstance(entry, list) else []
    resources: list[dict[str, Any]] = [
        e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]
    medications = [_trim(r, _MEDICATION_FIELDS) for r in resources if r.get("resourceType") == "Medication"]
    out = Drafts()
    for i, resource in enumerate(resources):
        if resource.get("resourceType") != "MedicationRequest":
            continue  # ServiceRequest, NutritionOrder, ...: not part of this check
        order = _trim(resource, _ORDER_FIELDS)
        order.setdefault("status", "draft")
        order.setdefault("intent", "order")  # a draft on its way to signing is an order being placed
        if isinstance(order.get("contained"), list):
            order["contained"] = [
                _trim(c, _MEDICATION_FIELDS) for c in order["contained"] if isinstance(c, dict)
            ]
        read = None
        for variant in _variants(order):
            read = _read(variant, medications, patient_id, validation, site_timezone)
            if read is not None:
                break
        if read is None:
            rid = resource.get("id")
            out.unreadable.append(
                f"MedicationRequest/{rid}" if isinstance(rid, str) else f"draft order #{i + 1}"
            )
        else:
            out.medications += read
    return out


def _variants(order: dict[str, Any]) -> list[dict[str, Any]]:
    """The draft as sent, then without its dosage, then also with an unreadable status as "draft"."""
    bare = {k: v for k, v in order.items() if k != "dosageInstruction"}
    return [order, bare, {**bare, "status": "draft"}]


def _trim(resource: dict[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    return {k: resource[k] for k in keep if k in resource}


def _read(
    order: dict[str, Any],
    medications: list[dict[str, Any]],
    patient_id: str,
    validation: Validation | None,
    site_timezone: str | None,
) -> list[Medication] | None:
    try:
        result = facts_from_resources(
            None,
            {"medications": [order, *medications]},
            patient_id=patient_id,
            validation=validation,
            site_timezone=site_timezone,
        )
    except FhirInputError:
        return None
    return result.facts.medications or []


def unreadable_card(orders: list[str]) -> Card:
    """A warning that named draft orders were not checked (never a silent skip)."""
    names = ", ".join(orders[:5]) + (f" and {len(orders) - 5} more" if len(orders) > 5 else "")
    return Card(
        uuid=str(uuid.uuid4()),
        summary="A draft medication order could not be checked for naltrexone-opioid conflicts",
        detail=(
            f"The medication of {names} could not be read, so ldncds could not check it against "
            "naltrexone or opioid use. Check it by hand before signing."
        ),
        indicator="warning",
        source=Source(label=SOURCE_LABEL),
    )
