"""Work that runs where the engine runs: in an engine worker process, or in this one (tests, `0`).

A request's CPU-bound part (FHIR mapping, the scope check, the engine, the cards, the JSON of the
answer and of the record) is one *work function* `work(engine, task) -> Outcome`: a module-level
function (pickled by name) and a frozen dataclass task carrying the raw request bytes and what the
work needs from the server (evaluation date, base URL, what was fetched from the EHR). The same
functions run in both places; the server process keeps HTTP, auth, EHR fetches and the store.

An answer that is an error is raised as `ApiError` (picklable: 400 naming the field, 412, and
`EngineFailed`, 503 with no advice); the pool raises it again in the server.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import orjson

from ldncds.engine import Assessment, Engine, PatientFacts
from ldncds.store.record import AssessmentText, assessment_text

from .errors import ApiError

T = TypeVar("T")
NO_ADVICE = "No advice: the rule engine failed on this request. Please try again."


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer of one work function.

    `body` is the response JSON, to be sent only once `record` (if any) is stored; `indicators` are
    the cards' indicators in answer order (for the metrics). `needs_record`: nothing is answered yet,
    the work needs the patient's record fetched from the EHR first (the server fetches, then asks again).
    """

    body: bytes = b""
    record: AssessmentText | None = None  # the decision log's text, serialised where the work ran
    indicators: tuple[str, ...] = ()
    needs_record: bool = False


Work = Callable[[Engine, T], Outcome]


class EngineFailed(ApiError):
    """The engine refused to answer, crashed or hung: no advice (503). `cause` names the failure's
    type for the log (never its text: it could quote patient data)."""

    def __init__(self, cause: str) -> None:
        super().__init__(503, NO_ADVICE, code="exception")
        self.cause = cause


def run(evaluator: Any, work: Work[T], task: T) -> Outcome:
    """`work` on the in-process engine (the pool's workers are awaited: `PooledEngine.run_async`)."""
    if not isinstance(evaluator, Engine):
        raise TypeError("run() takes the in-process Engine; await run_async() of an engine pool")
    return work(evaluator, task)


def assess(engine: Engine, facts: PatientFacts, on: date, planned_start: date | None = None) -> Assessment:
    """The engine's assessment; any failure (EngineError or a bug) is no advice, never partial advice."""
    try:
        return engine.assess(facts, on, planned_start)
    except Exception as exc:
        raise EngineFailed(type(exc).__name__) from None


def assess_in_scope(engine: Engine, facts: PatientFacts, on: date) -> Assessment | None:
    """patient-view: the assessment of a patient in scope, else None; failures as in `assess`."""
    try:
        return engine.assess_in_scope(facts, on)
    except Exception as exc:
        raise EngineFailed(type(exc).__name__) from None


def record_of(facts: PatientFacts, assessment: Assessment) -> AssessmentText:
    """Give the assessment its id (uuid4, as the store would) and serialise what the log keeps, in
    the log's own spelling: the server seals and stores the text as it is, parsing nothing."""
    if assessment.assessment_id is None:
        assessment.assessment_id = str(uuid.uuid4())
    return assessment_text(facts, assessment)


def json_bytes(content: Any) -> bytes:
    """A response body: the same JSON Starlette's JSONResponse sends, serialised by orjson."""
    return orjson.dumps(content)
