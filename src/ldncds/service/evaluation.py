"""The one path every channel takes: facts -> engine -> assessment id -> store -> caller.

The assessment is stored before anything is answered; if it cannot be stored, there is no advice.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from ldncds.engine import Assessment, PatientFacts
from ldncds.store.interface import Caller
from ldncds.store.record import record_assessment

from .errors import ApiError
from .security import with_identity

log = logging.getLogger("ldncds.http")


def today_in(zone: str, now: datetime | None = None) -> date:
    """The calendar date in time zone `zone` at instant `now` (default: this instant)."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(zone)).date()


def site_today(request: Request) -> date:
    """'Today' for an evaluation: the site's calendar date (setting site_timezone), not the server's."""
    return request.app.state.settings.today()


def parse_evaluation_date(request: Request, text: str | None, field: str = "evaluation_date") -> date:
    """YYYY-MM-DD within the configured window around the site's today (default today); else a 422
    naming the field. Numbers are not dates here (`0` is not 1970-01-01)."""
    today = site_today(request)
    if text is None:
        return today
    settings = request.app.state.settings
    try:
        if len(text) != 10:
            raise ValueError
        value = date.fromisoformat(text)
    except ValueError:
        raise _invalid(field, "expected a date as YYYY-MM-DD", text) from None
    earliest = today - timedelta(days=settings.evaluation_past_days)
    latest = today + timedelta(days=settings.evaluation_future_days)
    if not earliest <= value <= latest:
        raise _invalid(field, f"must lie between {earliest} and {latest}", text)
    return value


def _invalid(field: str, message: str, given: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", field), "msg": message, "input": given}]
    )


async def run_engine(request: Request, facts: PatientFacts, on: date) -> Assessment:
    """Assess in a worker thread (in-process engine) or worker process; any failure is a 503, no advice."""
    engine = request.app.state.engine
    try:
        return await run_in_threadpool(engine.assess, facts, on)
    except Exception as exc:  # EngineError, a crashed worker, or a bug: never partial advice
        log.error("no advice: the engine failed", extra={"fields": {"error": type(exc).__name__}})
        raise ApiError(
            503, "No advice: the rule engine failed on this request. Please try again.", code="exception"
        ) from None


async def assess_and_record(
    request: Request, facts: PatientFacts, on: date, *, raw_input: bytes, caller: Caller
) -> Assessment:
    """Assess, give the assessment its id and store it durably; only then may the caller answer.

    The caller is recorded with the verified token's issuer and tenant (tenancy of every record)."""
    caller = with_identity(request, caller)
    assessment = await run_engine(request, facts, on)
    state = request.app.state
    try:
        await run_in_threadpool(
            record_assessment,
            state.store,
            facts,
            assessment,
            raw_input,
            caller,
            state.engine.ruleset.content_hash,
        )
    except Exception as exc:  # the message could quote stored values: log the type only
        log.error("no advice: the assessment was not stored", extra={"fields": {"error": type(exc).__name__}})
        raise ApiError(
            503, "No advice: the assessment could not be recorded. Please try again.", code="transient"
        ) from None
    request.state.decision = assessment.decision
    state.metrics.decisions.labels(caller.channel, assessment.decision).inc()
    return assessment
