"""JSON API (`POST /api/v1/assessments`) and the operational endpoints (health, readiness, metrics, ping)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Discriminator, Field, Tag
from starlette.concurrency import run_in_threadpool

from ldncds.engine import Assessment, PatientFacts, earliest, latest
from ldncds.service.bodies import ParsedBodyRoute
from ldncds.service.bundle import FhirBundle
from ldncds.service.errors import OperationOutcome
from ldncds.service.evaluation import evaluate, json_response, parse_evaluation_date
from ldncds.service.security import require_client, require_metrics_token
from ldncds.store.interface import Caller

from .work import BodyTask, assess_body

log = logging.getLogger("ldncds.http")


def _input_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "<bundle>" if "resourceType" in value else "<facts>"
    if isinstance(value, FhirBundle):
        return "<bundle>"
    return "<facts>" if isinstance(value, PatientFacts) else None


AssessmentInput = Annotated[
    Annotated[PatientFacts, Tag("<facts>")] | Annotated[FhirBundle, Tag("<bundle>")],
    Discriminator(_input_kind),
]

_BODY_DOC = {
    "requestBody": {
        "content": {"application/fhir+json": {"schema": {"$ref": "#/components/schemas/FhirBundle"}}},
    }
}


class Pong(BaseModel):
    ok: bool = True


class Health(BaseModel):
    status: Literal["alive"] = "alive"


class Readiness(BaseModel):
    ready: bool
    engine: bool = Field(description="The rule engine is loaded and its workers are up.")
    store: bool = Field(description="The decision store answered.")
    ruleset_version: str


api = APIRouter(
    prefix="/api/v1",
    tags=["Assessments"],
    dependencies=[Depends(require_client)],
    route_class=ParsedBodyRoute,
)
ops = APIRouter(tags=["Operations"])


@api.post(
    "/assessments",
    status_code=201,
    response_model=Assessment,
    response_model_exclude_none=True,
    responses={
        400: {
            "model": OperationOutcome,
            "description": "Unreadable FHIR data; the OperationOutcome names the path",
        },
        422: {
            "model": OperationOutcome,
            "description": "Invalid body or query; the OperationOutcome names the field",
        },
        503: {"model": OperationOutcome, "description": "No advice: the engine or the store failed"},
    },
    openapi_extra=_BODY_DOC,
)
async def create_assessment(
    request: Request,
    body: Annotated[AssessmentInput, Body(description="Native PatientFacts JSON, or a FHIR R4 Bundle.")],
    evaluation_date: Annotated[
        str | None,
        Query(
            description="YYYY-MM-DD within the configured window around today; default today in the "
            "site's time zone (setting site_timezone, default UTC).",
            max_length=10,
            json_schema_extra={"format": "date"},
        ),
    ] = None,
) -> Response:
    """Assess one patient; the assessment is stored (and gets its id) before the answer is sent."""
    on = parse_evaluation_date(request, evaluation_date)
    if isinstance(body, PatientFacts):
        _check_birth_date(body, on, request.app.state.settings.max_age_years)
    settings = request.app.state.settings
    is_bundle = isinstance(body, FhirBundle)
    task = BodyTask(await request.body(), is_bundle, on, settings.fhir_validation, settings.site_timezone)
    outcome = await evaluate(request, assess_body, task, caller=Caller(channel="api"))
    assert outcome.record is not None  # an assessment always has a record
    location = f"/api/v1/assessments/{outcome.record.id}"
    return json_response(outcome.body, status_code=201, headers={"Location": location})


def _check_birth_date(facts: PatientFacts, on: date, max_age_years: int) -> None:
    """A birth date after the evaluation date (a negative age) or further back than any human life
    is an input error, answered 422 naming the field, never assessed."""
    if facts.birth_date is None:
        return
    if earliest(facts.birth_date) > on:
        message = "is after the evaluation date (negative age)"
    elif latest(facts.birth_date).year < on.year - max_age_years:
        message = f"is more than {max_age_years} years before the evaluation date (implausible)"
    else:
        return
    error = {"type": "value_error", "loc": ("body", "birth_date"), "msg": f"birth_date {message}"}
    raise RequestValidationError([error | {"input": facts.birth_date}])


@ops.get("/ping", response_model=Pong)
async def ping() -> Pong:
    """Trivial endpoint: the floor for latency benchmarks."""
    return Pong()


@ops.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health()


@ops.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(request: Request) -> JSONResponse:
    """Ready when the engine is loaded (workers up) and the decision store can start a write
    transaction (a store that only reads cannot record advice, so it is not ready)."""
    state = request.app.state
    engine_ok = _engine_ready(state.engine)
    try:
        await run_in_threadpool(_store_writable, state.store)
        store_ok = True
    except Exception as exc:
        log.warning("store not reachable", extra={"fields": {"error": type(exc).__name__}})
        store_ok = False
    ready = Readiness(
        ready=engine_ok and store_ok, engine=engine_ok, store=store_ok, ruleset_version=state.engine.version
    )
    return JSONResponse(ready.model_dump(), status_code=200 if ready.ready else 503)


def _store_writable(store: Any) -> None:
    check = getattr(store, "check_writable", None)
    if check is None:  # a store without the check (tests' in-memory stores): it answers a read
        store.list(limit=1)
    else:
        check()


def _engine_ready(engine: Any) -> bool:
    pool = getattr(engine, "pool", None)
    return pool.healthy() if pool is not None else engine.ruleset is not None


@ops.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(require_metrics_token)],
    responses={
        200: {"content": {"text/plain": {}}},
        401: {"description": "JWT on: the metrics token (setting metrics_token) is missing or wrong"},
        404: {"description": "JWT on and no metrics token configured: metrics are not served"},
    },
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests by route, status and decision; latency histogram; decisions; cards.
    With JWT on they need `Authorization: Bearer <metrics_token>`; without that setting, 404."""
    m = request.app.state.metrics
    pool = getattr(request.app.state.engine, "pool", None)
    if pool is not None:
        m.worker_restarts.set(pool.restarts)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
