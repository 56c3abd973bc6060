"""CDS Hooks HTTP endpoints: discovery, the three services and feedback.

The request path is straight: prefetch (or FHIR fetch) -> FHIR adapter -> facts -> engine ->
stored assessment -> card. This process validates the request, fetches what the prefetch lacks and
stores the assessment; the rest (cdshooks/work.py) runs where the engine runs, an engine worker
process when there are any. Validation errors are 400 naming the field; missing required data 412.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, NamedTuple

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ldncds.service.bodies import ParsedBodyRoute
from ldncds.service.errors import ApiError, OperationOutcome
from ldncds.service.evaluation import evaluate, json_response, site_today
from ldncds.service.security import require_client, with_identity
from ldncds.service.worklet import Outcome, json_bytes
from ldncds.store.interface import Caller, ForeignRecordError

from .discovery import CANDIDACY, DISCOVERY, ORDER_SELECT, ORDER_SIGN, SERVICES
from .fetch import FetchLimits, FhirFetcher, fhir_server_allowed, gather
from .models import (
    CardsResponse,
    Discovery,
    FeedbackReceipt,
    FeedbackRequest,
    HookRequest,
    OrderSelectRequest,
    OrderSignRequest,
    PatientViewRequest,
)
from .prefetch import Fetched
from .work import HookTask, OrderTask, cards_outcome, order_check, patient_view

log = logging.getLogger("ldncds.cdshooks")

_PORTAL_USERS = ("Patient/", "RelatedPerson/")
_DISCOVERY = json_bytes(DISCOVERY.model_dump(mode="json", exclude_none=True))


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Bad request: the OperationOutcome names the field",
        404: "Unknown service",
        412: "Required data neither in prefetch nor retrievable from fhirServer",
        503: "No advice: the engine or the store failed on this request",
    }
    return {s: {"model": OperationOutcome, "description": text[s]} for s in statuses}


class _FhirJsonRoute(ParsedBodyRoute):
    """Reads the old FHIR media type `application/json+fhir` as JSON (clients still send it)."""

    def prepare(self, request: Request) -> Request:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json+fhir":
            headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
            request.scope["headers"] = [*headers, (b"content-type", b"application/json")]
            request = Request(request.scope, request.receive)
        return request


router = APIRouter(tags=["CDS Hooks"], dependencies=[Depends(require_client)], route_class=_FhirJsonRoute)


def _cards(outcome: Outcome, request: Request, service_id: str) -> Response:
    for indicator in outcome.indicators:
        request.app.state.metrics.cards.labels(service_id, indicator).inc()
    return json_response(outcome.body)


@router.get("/cds-services", response_model=Discovery, response_model_exclude_none=True)
async def discovery() -> Response:
    """The services this server offers (CDS Hooks discovery)."""
    return json_response(_DISCOVERY)


@router.post("/cds-services/ldn-candidacy", response_model=CardsResponse, responses=_errors(400, 412, 503))
async def candidacy(body: PatientViewRequest, request: Request) -> Response:
    """patient-view: one decision card for a patient with an in-scope pain condition, else no cards.
    Mapping, scope, engine and card run where the engine runs; this process fetches and stores."""
    _note(request, body.hook, body.hookInstance)
    if body.context.userId.startswith(_PORTAL_USERS):
        return _cards(cards_outcome([]), request, CANDIDACY)
    ehr = _ehr(request, body)
    fetched = await _fetch(request, body, ehr) if ehr is not None else None
    settings = request.app.state.settings
    task = HookTask(
        await request.body(),
        site_today(request),
        _base_url(request),
        fetched,
        settings.fhir_validation,
        settings.site_timezone,
    )
    outcome = await evaluate(request, patient_view, task, caller=_caller(request, body, CANDIDACY))
    return _cards(outcome, request, CANDIDACY)


@router.post("/cds-services/ldn-order-select", response_model=CardsResponse, responses=_errors(400, 412, 503))
async def order_select(body: OrderSelectRequest, request: Request) -> Response:
    """order-select: checks only the selected draft orders (the rest of draftOrders is context)."""
    return await _order_check(request, body, ORDER_SELECT, body.context.selections)


@router.post("/cds-services/ldn-order-sign", response_model=CardsResponse, responses=_errors(400, 412, 503))
async def order_sign(body: OrderSignRequest, request: Request) -> Response:
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


def _base_url(request: Request) -> str:
    base: str = request.app.state.settings.public_base_url
    return base


def _caller(request: Request, body: HookRequest, service_id: str) -> Caller:
    return Caller(
        channel="cds-hooks",
        service_id=service_id,
        hook_instance=body.hookInstance,
        issuer=getattr(request.state, "issuer", None),
    )


class _Ehr(NamedTuple):
    """The hook's FHIR server, as far as this request may read from it."""

    server: str
    token: str
    limits: FetchLimits


def _ehr(request: Request, body: HookRequest) -> _Ehr | None:
    """Where missing prefetch may be fetched from, or None when nothing may be fetched."""
    settings = request.app.state.settings
    if body.fhirAuthorization is None or body.fhirServer is None:
        return None
    if not fhir_server_allowed(body.fhirServer, settings.fhir_server_allowlist):
        log.warning("fhirServer not in the allow-list: nothing fetched")
        return None
    limits = FetchLimits(
        timeout=settings.fhir_timeout_seconds,
        deadline=settings.fhir_fetch_deadline_seconds,
        max_bytes=settings.fhir_max_response_bytes,
        max_pages=settings.fhir_max_pages,
    )
    return _Ehr(body.fhirServer, body.fhirAuthorization.access_token, limits)


async def _fetch(request: Request, body: HookRequest, ehr: _Ehr) -> Fetched:
    """The prefetch completed from the EHR's FHIR server with the hook's token, as a change to it."""
    async with httpx.AsyncClient(transport=request.app.state.fhir_transport) as client:
        fetcher = FhirFetcher(client, ehr.server, ehr.token, ehr.limits)
        gathered = await gather(body.prefetch, body.context.model_dump(), fetcher)
    return gathered.change_to(body.prefetch or {})


async def _order_check(
    request: Request,
    body: OrderSelectRequest | OrderSignRequest,
    service_id: str,
    selections: list[str] | None,
) -> Response:
    _note(request, body.hook, body.hookInstance)
    if body.context.userId.startswith(_PORTAL_USERS):
        return _cards(cards_outcome([]), request, service_id)
    ehr = _ehr(request, body)
    task = OrderTask(
        await request.body(),
        site_today(request),
        _base_url(request),
        selections=None if selections is None else tuple(selections),
        validation=request.app.state.settings.fhir_validation,
        site_timezone=request.app.state.settings.site_timezone,
        fetch_first=ehr is not None,  # the drafts decide whether the record is read at all
    )
    caller = _caller(request, body, service_id)
    outcome = await evaluate(request, order_check, task, caller=caller)
    if outcome.needs_record and ehr is not None:
        task = replace(task, fetched=await _fetch(request, body, ehr), fetch_first=False)
        outcome = await evaluate(request, order_check, task, caller=caller)
    return _cards(outcome, request, service_id)
