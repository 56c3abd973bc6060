"""The one path every channel takes: facts -> engine -> assessment id -> store -> caller.

The assessment is stored before anything is answered; if it cannot be stored, there is no advice.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ldncds.engine import Assessment, PatientFacts
from ldncds.store.interface import Caller
from ldncds.store.record import record_assessment

from .errors import ApiError

log = logging.getLogger("ldncds.http")


def today_utc() -> date:
    return datetime.now(UTC).date()


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
    """Assess, give the assessment its id and store it durably; only then may the caller answer."""
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
