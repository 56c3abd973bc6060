"""CDS Hooks HTTP endpoints: discovery, the three services and feedback.

The request path is straight: prefetch (or FHIR fetch) -> FHIR adapter -> facts -> engine ->
stored assessment -> card. Validation errors are 400 naming the field; missing required data 412.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from ldncds.engine import Assessment, Medication, PatientFacts, in_scope
from ldncds.fhir import MISSING, FhirInputError, facts_from_resources
from ldncds.service.errors import ApiError, OperationOutcome
from ldncds.service.evaluation import assess_and_record, run_engine, site_today
from ldncds.service.security import require_client, with_identity
from ldncds.store.interface import Caller, ForeignRecordError

from . import orders
from .cards import decision_card
from .discovery import CANDIDACY, DISCOVERY, ORDER_SELECT, ORDER_SIGN, SERVICES
from .drafts import read_drafts, unreadable_card
from .models import (
    Card,
    CardsResponse,
    Discovery,
    FeedbackReceipt,
    FeedbackRequest,
    HookRequest,
    OrderSelectRequest,
    OrderSignRequest,
    PatientViewRequest,
)
from .prefetch import REQUIRED_KEYS, FetchLimits, FhirFetcher, Gathered, fhir_server_allowed, gather

log = logging.getLogger("ldncds.cdshooks")

REQUIRED_FOR_CANDIDACY = list(REQUIRED_KEYS)
REQUIRED_FOR_ORDER_CHECK = ["medications"]
# Required lists an EHR may answer with an OperationOutcome while a hard stop found elsewhere still
# decides (a found opioid blocks whatever the allergy list says). Patient and conditions decide scope.
DEGRADABLE = ("medications", "allergies")
_PORTAL_USERS = ("Patient/", "RelatedPerson/")
_INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Bad request: the OperationOutcome names the field",
        404: "Unknown service",
        412: "Required data neither in prefetch nor retrievable from fhirServer",
        503: "No advice: the engine or the store failed on this request",
    }
    return {s: {"model": OperationOutcome, "description": text[s]} for s in statuses}


class _FhirJsonRoute(APIRoute):
    """Reads the old FHIR media type `application/json+fhir` as JSON (clients still send it)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type == "application/json+fhir":
                headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
                request.scope["headers"] = [*headers, (b"content-type", b"application/json")]
                request = Request(request.scope, request.receive)
            return await handler(request)

        return route


router = APIRouter(tags=["CDS Hooks"], dependencies=[Depends(require_client)], route_class=_FhirJsonRoute)


def _cards(cards: list[Card], request: Request, service_id: str) -> JSONResponse:
    cards = sorted(cards, key=lambda c: _INDICATOR_ORDER[c.indicator])
    for card in cards:
        request.app.state.metrics.cards.labels(service_id, card.indicator).inc()
    body = CardsResponse(cards=cards).model_dump(mode="json", exclude_none=True)
    return JSONResponse(body)


@router.get("/cds-services", response_model=Discovery, response_model_exclude_none=True)
async def discovery() -> JSONResponse:
    """The services this server offers (CDS Hooks discovery)."""
    return JSONResponse(DISCOVERY.model_dump(mode="json", exclude_none=True))


@router.post("/cds-services/ldn-candidacy", response_model=CardsResponse, responses=_errors(400, 412, 503))
async def candidacy(body: PatientViewRequest, request: Request) -> JSONResponse:
    """patient-view: one decision card for a patient with an in-scope pain condition, else no cards."""
    _note(request, body.hook, body.hookInstance)
    context = body.context
    if context.userId.startswith(_PORTAL_USERS):
        return _cards([], request, CANDIDACY)
    gathered = await _gather(request, body)
    facts, unavailable = await run_in_threadpool(
        _map, gathered, context.patientId, REQUIRED_FOR_CANDIDACY, DEGRADABLE
    )
    ruleset = request.app.state.engine.ruleset
    if facts.deceased or not await run_in_threadpool(in_scope, facts, site_today(request), ruleset):
        return _cards([], request, CANDIDACY)
    if unavailable and (await run_engine(request, facts, site_today(request))).decision != "contraindicated":
        _require(unavailable)  # only a hard stop found in the rest can be answered without them
    assessment = await _assess(request, body, facts, CANDIDACY)
    base = request.app.state.settings.public_base_url
    return _cards(
        [decision_card(assessment, base_url=base, patient_id=context.patientId)], request, CANDIDACY
    )


@router.post("/cds-services/ldn-order-select", response_model=CardsResponse, responses=_errors(400, 412, 503))
async def order_select(body: OrderSelectRequest, request: Request) -> JSONResponse:
    """order-select: checks only the selected draft orders (the rest of draftOrders is context)."""
    return await _order_check(request, body, ORDER_SELECT, body.context.selections)


@router.post("/cds-services/ldn-order-sign", response_model=CardsResponse, responses=_errors(400, 412, 503))
async def order_sign(body: OrderSignRequest, request: Request) -> JSONResponse:
    """order-sign: checks every draft order about to be signed."""
    return await _order_check(request, body, ORDER_SIGN, None)


@router.post("/cds-services/{service_id}", status_code=404, response_model=OperationOutcome)
async def unknown_service(service_id: str) -> None:
    raise ApiError(
        404, "No CDS service with this id; see GET /cds-services.", code="not-found", expression="id"
    )


@router.post(
    "/cds-services/{service_id}/feedback", response_model=FeedbackReceipt, responses=_errors(400, 404, 503)
)
async def feedback(service_id: str, body: FeedbackRequest, request: Request) -> FeedbackReceipt:
    """Card outcomes (accepted / overridden). Idempotent; unknown cards are kept too."""
    if service_id not in SERVICES:
        raise ApiError(
            404, "No CDS service with this id; see GET /cds-services.", code="not-found", expression="id"
        )
    store = request.app.state.store
    recorded = 0
    for item in body.feedback:
        # The store dedupes on card, outcome, accepted suggestions, override reason and (UTC) timestamp.
        entry = item.model_dump(mode="json", exclude_none=True) | {"service_id": service_id}
        try:
            caller = with_identity(request, Caller(channel="cds-hooks", service_id=service_id))
            recorded += bool(await run_in_threadpool(store.add_feedback, item.card, entry, caller=caller))
        except ForeignRecordError:  # a card of another issuer or tenant: never attached to its record
            raise ApiError(404, "No card with this uuid for this client.", code="not-found") from None
        except Exception as exc:
            log.error("feedback not stored", extra={"fields": {"error": type(exc).__name__}})
            raise ApiError(
                503, "The feedback could not be recorded. Please send it again.", code="transient"
            ) from None
    return FeedbackReceipt(received=len(body.feedback), recorded=recorded)


# ---------------------------------------------------------------------------------------------- helpers


def _note(request: Request, hook: str, hook_instance: str) -> None:
    request.state.hook = hook
    request.state.hook_instance = hook_instance


async def _gather(request: Request, body: HookRequest) -> Gathered:
    context = body.context.model_dump()
    settings = request.app.state.settings
    if body.fhirAuthorization is None or body.fhirServer is None:
        return await gather(body.prefetch, context, None)
    if not fhir_server_allowed(body.fhirServer, settings.fhir_server_allowlist):
        log.warning("fhirServer not in the allow-list: nothing fetched")
        return await gather(body.prefetch, context, None)
    limits = FetchLimits(
        timeout=settings.fhir_timeout_seconds,
        deadline=settings.fhir_fetch_deadline_seconds,
        max_bytes=settings.fhir_max_response_bytes,
        max_pages=settings.fhir_max_pages,
    )
    async with httpx.AsyncClient(transport=request.app.state.fhir_transport) as client:
        fetcher = FhirFetcher(client, body.fhirServer, body.fhirAuthorization.access_token, limits)
        return await gather(body.prefetch, context, fetcher)


def _require(missing: list[str]) -> None:
    if missing:
        raise ApiError(
            412,
            f"Required data not in the prefetch and not retrievable from fhirServer: {', '.join(missing)}.",
            code="required",
            expression=[f"prefetch.{k}" for k in missing],
        )


def _map(
    gathered: Gathered, patient_id: str, required: list[str], degradable: tuple[str, ...] = ()
) -> tuple[PatientFacts, list[str]]:
    """Prefetch/fetched FHIR -> facts, and the `degradable` required keys the EHR answered with an
    error (the caller may still decide from the rest). 412 when any other required key is missing."""
    failed = [  # answered with an OperationOutcome (not merely absent)
        k
        for k in gathered.missing(required)
        if k in degradable and gathered.values.get(k, MISSING) is not MISSING
    ]
    _require([k for k in gathered.missing(required) if k not in failed])
    given = gathered.adapter_input()
    try:
        # Not strict: an invalid record is named (unreadable) and its section incomplete, so the
        # hard stops found in the rest still reach the clinician; never a candidate on partial data.
        result = facts_from_resources(given.patient, given.sections, patient_id=patient_id, strict=False)
    except FhirInputError as exc:
        raise ApiError(
            400, f"Unreadable FHIR data: {exc.message}", expression=given.locate(exc.path)
        ) from None
    facts = result.facts
    # A search answered with an error OperationOutcome leaves its section "not available".
    unavailable = [k for k in required if k != "patient" and getattr(facts, k) is None]
    _require([k for k in unavailable if k not in degradable])
    if given.notes:  # optional keys absent or failed: named in the answer
        facts = facts.model_copy(update={"notes": [*given.notes, *facts.notes]})
    if result.warnings:
        log.info("FHIR mapping warnings", extra={"fields": {"count": len(result.warnings)}})
    return facts, sorted(set(unavailable) | set(failed))


async def _assess(request: Request, body: HookRequest, facts: PatientFacts, service_id: str) -> Assessment:
    caller = Caller(
        channel="cds-hooks",
        service_id=service_id,
        hook_instance=body.hookInstance,
        issuer=getattr(request.state, "issuer", None),
    )
    on = site_today(request)
    return await assess_and_record(request, facts, on, raw_input=await request.body(), caller=caller)


def _draft_orders(body: OrderSelectRequest | OrderSignRequest) -> tuple[list[Medication], list[str]]:
    """Drafts read leniently (only what the checks need); the ones that could not be read, named."""
    drafts = read_drafts(body.context.draftOrders.model_dump(exclude_unset=True), body.context.patientId)
    return drafts.medications, drafts.unreadable


async def _order_check(
    request: Request,
    body: OrderSelectRequest | OrderSignRequest,
    service_id: str,
    selections: list[str] | None,
) -> JSONResponse:
    _note(request, body.hook, body.hookInstance)
    if body.context.userId.startswith(_PORTAL_USERS):
        return _cards([], request, service_id)
    engine = request.app.state.engine
    draft_meds, unreadable = await run_in_threadpool(_draft_orders, body)
    views = orders.medication_views(draft_meds, site_today(request), engine.ruleset.valuesets)
    drafts = orders.selected(views, selections)
    if selections is not None:
        unreadable = [u for u in unreadable if u in selections]
    not_checked = [unreadable_card(unreadable)] if unreadable else []
    naltrexone_orders = [d for d in drafts if d.is_naltrexone]
    opioid_orders = [d for d in drafts if d.is_opioid]
    if not naltrexone_orders and not opioid_orders:
        return _cards(not_checked, request, service_id)  # nothing to check: the record is not even read
    gathered = await _gather(request, body)
    facts, _ = await run_in_threadpool(_map, gathered, body.context.patientId, REQUIRED_FOR_ORDER_CHECK)
    record = orders.medication_views(facts.medications or [], site_today(request), engine.ruleset.valuesets)
    # The order checks are rules: the drafts are assessed with the record, and the answer is logged.
    checked = {d.source for d in drafts}
    with_drafts = orders.with_drafts(facts, [m for m in draft_meds if m.source in checked])
    assessment = await _assess(request, body, with_drafts, service_id)
    cards = orders.order_cards(
        naltrexone_orders,
        opioid_orders,
        record,
        assessment,
        base_url=request.app.state.settings.public_base_url,
        ruleset_version=engine.version,
    )
    return _cards([*cards, *not_checked], request, service_id)
