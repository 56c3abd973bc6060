"""The CDS Hooks services' work, run where the engine runs (service/worklet.py): in an engine worker
process, or in the server process when the engine is in-process.

Each work function reads the raw hook request (the server has validated it), maps the prefetch and
whatever the server fetched from the EHR to facts, checks scope, runs the engine, builds the cards
and serialises the answer and the record. Errors are ApiErrors: 400 naming the field, 412.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from ldncds.engine import Engine, PatientFacts
from ldncds.fhir import MISSING, FhirInputError, facts_from_resources
from ldncds.fhir.adapter import Validation
from ldncds.jsontext import loads
from ldncds.service.errors import ApiError
from ldncds.service.worklet import Outcome, assess, assess_in_scope, json_bytes, record_of
from ldncds.store import AssessmentText

from . import orders
from .cards import decision_card
from .drafts import read_drafts, unreadable_card
from .models import Card, CardsResponse
from .prefetch import REQUIRED_KEYS, Fetched, Gathered

log = logging.getLogger("ldncds.cdshooks")

REQUIRED_FOR_CANDIDACY = list(REQUIRED_KEYS)
REQUIRED_FOR_ORDER_CHECK = ["medications"]
# Required lists an EHR may answer with an OperationOutcome while a hard stop found elsewhere still
# decides (a found opioid blocks whatever the allergy list says). Patient and conditions decide scope.
DEGRADABLE = ("medications", "allergies")
_INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class HookTask:
    """A hook request as received (`raw`), with what only the server knows."""

    raw: bytes
    on: date  # the site's today
    base_url: str  # public_base_url, for the cards' links
    fetched: Fetched | None = None  # read from fhirServer, over the request's prefetch
    validation: Validation | None = None  # setting fhir_validation of the server (None: this process's)
    site_timezone: str | None = None  # setting site_timezone of the server (None: this process's)


@dataclass(frozen=True, slots=True)
class OrderTask(HookTask):
    selections: tuple[str, ...] | None = None  # order-select: the orders selected; order-sign: None
    fetch_first: bool = False  # the server may fetch the record: ask for it before reading it


def cards_outcome(cards: list[Card], record: AssessmentText | None = None) -> Outcome:
    """The CDS Hooks answer: cards by indicator (critical first), serialised."""
    cards = sorted(cards, key=lambda c: _INDICATOR_ORDER[c.indicator])
    body = CardsResponse(cards=cards).model_dump(mode="json", exclude_none=True)
    return Outcome(json_bytes(body), record, tuple(c.indicator for c in cards))


def _body(task: HookTask) -> dict[str, Any]:
    body: dict[str, Any] = loads(task.raw)  # the value json.loads gives (FastAPI validated that)
    return body


def _gathered(body: dict[str, Any], task: HookTask) -> Gathered:
    return Gathered.over(body.get("prefetch") or {}, task.fetched)


def patient_view(engine: Engine, task: HookTask) -> Outcome:
    """One decision card for a patient with an in-scope pain condition, else no cards."""
    body = _body(task)
    patient_id = body["context"]["patientId"]
    gathered = _gathered(body, task)
    facts, unavailable = map_chart(gathered, patient_id, REQUIRED_FOR_CANDIDACY, DEGRADABLE, task)
    assessment = None if facts.died_by(task.on) else assess_in_scope(engine, facts, task.on)
    if assessment is None:
        return cards_outcome([])
    if unavailable and assessment.decision != "contraindicated":
        require(unavailable)  # only a hard stop found in the rest can be answered without them
    record = record_of(facts, assessment)
    return cards_outcome([decision_card(assessment, base_url=task.base_url, patient_id=patient_id)], record)


def order_check(engine: Engine, task: OrderTask) -> Outcome:
    """order-select / order-sign: the selected (or all) draft orders, checked with the record."""
    body = _body(task)
    context = body["context"]
    drafts = read_drafts(context["draftOrders"], context["patientId"], task.validation, task.site_timezone)
    views = orders.medication_views(drafts.medications, task.on, engine.ruleset.valuesets)
    chosen = orders.selected(views, None if task.selections is None else list(task.selections))
    unreadable = drafts.unreadable
    if task.selections is not None:
        unreadable = [u for u in unreadable if u in task.selections]
    not_checked = [unreadable_card(unreadable)] if unreadable else []
    naltrexone_orders = [d for d in chosen if d.is_naltrexone]
    opioid_orders = [d for d in chosen if d.is_opioid]
    if not naltrexone_orders and not opioid_orders:
        return cards_outcome(not_checked)  # nothing to check: the record is not even read
    if task.fetch_first:
        return Outcome(needs_record=True)
    facts, _ = map_chart(_gathered(body, task), context["patientId"], REQUIRED_FOR_ORDER_CHECK, reading=task)
    record = orders.medication_views(facts.medications or [], task.on, engine.ruleset.valuesets)
    # The order checks are rules: the drafts are assessed with the record, and the answer is logged.
    checked = {d.source for d in chosen}
    with_drafts = orders.with_drafts(facts, [m for m in drafts.medications if m.source in checked])
    assessment = assess(engine, with_drafts, task.on)
    stored = record_of(with_drafts, assessment)
    cards = orders.order_cards(
        naltrexone_orders,
        opioid_orders,
        record,
        assessment,
        base_url=task.base_url,
        ruleset_version=engine.version,
    )
    return cards_outcome([*cards, *not_checked], stored)


def require(missing: list[str]) -> None:
    if missing:
        raise ApiError(
            412,
            f"Required data not in the prefetch and not retrievable from fhirServer: {', '.join(missing)}.",
            code="required",
            expression=[f"prefetch.{k}" for k in missing],
        )


def map_chart(
    gathered: Gathered,
    patient_id: str,
    required: list[str],
    degradable: tuple[str, ...] = (),
    reading: HookTask | None = None,
) -> tuple[PatientFacts, list[str]]:
    """Prefetch/fetched FHIR -> facts, and the `degradable` required keys the EHR answered with an
    error (the caller may still decide from the rest). 412 when any other required key is missing."""
    failed = [  # answered with an OperationOutcome (not merely absent)
        k
        for k in gathered.missing(required)
        if k in degradable and gathered.values.get(k, MISSING) is not MISSING
    ]
    require([k for k in gathered.missing(required) if k not in failed])
    given = gathered.adapter_input()
    try:
        # Not strict: an invalid record is named (unreadable) and its section incomplete, so the
        # hard stops found in the rest still reach the clinician; never a candidate on partial data.
        result = facts_from_resources(
            given.patient,
            given.sections,
            patient_id=patient_id,
            strict=False,
            validation=reading.validation if reading else None,
            site_timezone=reading.site_timezone if reading else None,
        )
    except FhirInputError as exc:
        raise ApiError(
            400, f"Unreadable FHIR data: {exc.message}", expression=given.locate(exc.path)
        ) from None
    facts = result.facts
    # A search answered with an error OperationOutcome leaves its section "not available".
    unavailable = [k for k in required if k != "patient" and getattr(facts, k) is None]
    require([k for k in unavailable if k not in degradable])
    if given.notes:  # optional keys absent or failed: named in the answer
        facts = facts.model_copy(update={"notes": [*given.notes, *facts.notes]})
    if result.warnings:
        log.info("FHIR mapping warnings", extra={"fields": {"count": len(result.warnings)}})
    return facts, sorted(set(unavailable) | set(failed))
