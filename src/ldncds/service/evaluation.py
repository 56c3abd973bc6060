"""The one path every HTTP channel takes: work (facts -> engine -> assessment id -> answer JSON),
then the store, then the caller.

The work runs where the engine runs (service/worklet.py); the assessment is stored before anything
is answered; if it cannot be stored, there is no advice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ldncds.store.interface import Caller
from ldncds.store.record import AssessmentText, seal

from .errors import ApiError
from .security import with_identity
from .worklet import EngineFailed, Outcome, Work, run

T = TypeVar("T")

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


async def evaluate(request: Request, work: Work[T], task: T, *, caller: Caller) -> Outcome:
    """Run `work` where the engine runs (a worker process, or this process) and store the assessment
    it made; only then may the caller answer with `outcome.body`.

    In-process, the work and the store write share one thread hop. With engine workers, the work is
    awaited on the event loop (the pool's own I/O) and the record on the decision writer's thread
    (service/recorder.py).
    The caller is recorded with the verified token's issuer and tenant (tenancy of every record).
    A refusal of the work (ApiError: 400, 412) propagates; engine or store failure is a 503."""
    caller = with_identity(request, caller)
    state = request.app.state
    raw_input = await request.body()
    evaluator = state.engine
    if hasattr(evaluator, "run_async"):
        outcome = await _logged(evaluator.run_async(work, task))
        if outcome.record is not None:
            sealed = seal(outcome.record, raw_input, caller, evaluator.ruleset.content_hash)
            await _stored(state.writer.append(sealed))
    else:
        outcome = await run_in_threadpool(
            _run_and_record, evaluator, state.store, work, task, raw_input, caller
        )
    if outcome.record is not None:
        request.state.decision = outcome.record.decision
        state.metrics.decisions.labels(caller.channel, outcome.record.decision).inc()
    return outcome


async def _logged(running: Awaitable[Outcome]) -> Outcome:
    try:
        return await running
    except EngineFailed as exc:
        log.error("no advice: the engine failed", extra={"fields": {"error": exc.cause}})
        raise


def _run_and_record(
    evaluator: Any, store: Any, work: Work[T], task: T, raw_input: bytes, caller: Caller
) -> Outcome:
    try:
        outcome = run(evaluator, work, task)
    except EngineFailed as exc:
        log.error("no advice: the engine failed", extra={"fields": {"error": exc.cause}})
        raise
    if outcome.record is not None:
        _store(store, outcome.record, raw_input, caller, evaluator.ruleset.content_hash)
    return outcome


def _store(store: Any, record: AssessmentText, raw_input: bytes, caller: Caller, ruleset_hash: str) -> None:
    """Durably store before anything is answered; if it cannot be stored, there is no advice."""
    # The work serialised both in the log's spelling: sealed and stored as given, not parsed here.
    try:
        store.append(seal(record, raw_input, caller, ruleset_hash))
    except Exception as exc:
        raise _not_stored(exc) from None


async def _stored(appending: Awaitable[int]) -> None:
    """_store's guarantee for the decision writer's append: stored, or no advice."""
    try:
        await appending
    except Exception as exc:
        raise _not_stored(exc) from None


def _not_stored(exc: Exception) -> ApiError:
    # The message could quote stored values: log the type only.
    log.error("no advice: the assessment was not stored", extra={"fields": {"error": type(exc).__name__}})
    message = "No advice: the assessment could not be recorded. Please try again."
    return ApiError(503, message, code="transient")


def json_response(body: bytes, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer whose body was serialised already (by the work, in orjson)."""
    return Response(body, status_code=status_code, headers=headers, media_type="application/json")
