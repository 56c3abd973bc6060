"""HTTP read access to the decision log: GET /api/v1/assessments[/{id}].

The app includes this router with its authentication dependency (`dependencies=[...]`), which puts
the caller's tenancy scope on `request.state.scope`: a caller reads and lists only what its own
issuer and tenant stored (an auditor's token: everything); another tenant's record is a 404, the
same answer as an unknown id. The store is `request.app.state.store`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from ldncds.engine import Decision

from .interface import Caller, DecisionStore, Scope, StoredAssessment

router = APIRouter(tags=["decision log"])
# Printable ASCII only: a NUL byte in a query would be a database error, not "no match".
_PRINTABLE = r"^[\x20-\x7e]+$"


class AssessmentRecord(BaseModel):
    """One stored assessment as the API returns it."""

    id: str
    seq: int = Field(description="Position in the tamper-evident log (1, 2, ...).")
    created_at: datetime
    decision: str
    evaluation_date: date
    ruleset_version: str
    ruleset_hash: str
    input_digest: str = Field(description="sha256 of the raw input as received.")
    caller: Caller
    assessment: dict[str, Any] = Field(description="The full Assessment as it was returned.")
    feedback: list[dict[str, Any]] = Field(default_factory=list, description="CDS Hooks feedback on it.")


class AssessmentPage(BaseModel):
    items: list[AssessmentRecord]
    limit: int
    offset: int


def _store(request: Request) -> DecisionStore:
    store = getattr(request.app.state, "store", None)
    if store is None:
        raise HTTPException(status_code=503, detail="the decision log is not configured")
    return store


def _scope(request: Request) -> dict[str, Scope]:
    """The scope argument for the store; none with JWT off (so stores without tenancy work too)."""
    scope = getattr(request.state, "scope", None)
    return {"scope": scope} if scope is not None else {}


def _record(stored: StoredAssessment) -> AssessmentRecord:
    return AssessmentRecord(**stored.model_dump(exclude={"facts"}))


@router.get("/api/v1/assessments/{assessment_id}", response_model=AssessmentRecord)
def get_assessment(
    request: Request, assessment_id: Annotated[str, Path(max_length=64, pattern=_PRINTABLE)]
) -> AssessmentRecord:
    """One stored assessment with its feedback; 404 when the id is unknown."""
    try:
        stored = _store(request).get(assessment_id, **_scope(request))
    except SQLAlchemyError as exc:
        raise HTTPException(status_code=503, detail="the decision log is unavailable") from exc
    if stored is None:
        raise HTTPException(status_code=404, detail=f"no assessment {assessment_id}")
    return _record(stored)


@router.get("/api/v1/assessments", response_model=AssessmentPage)
def list_assessments(
    request: Request,
    decision: Annotated[Decision | None, Query(description="Only this decision.")] = None,
    date_from: Annotated[date | None, Query(description="Evaluation date on or after (YYYY-MM-DD).")] = None,
    date_to: Annotated[date | None, Query(description="Evaluation date on or before (YYYY-MM-DD).")] = None,
    ruleset_version: Annotated[str | None, Query(max_length=128, pattern=_PRINTABLE)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AssessmentPage:
    """Stored assessments, newest first, filtered by decision, evaluation date and ruleset version."""
    if date_from and date_to and date_from > date_to:
        # Same shape as any other bad query parameter: 422 naming the field.
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "date_from"),
                    "msg": "date_from is after date_to",
                    "input": str(date_from),
                }
            ]
        )
    try:
        rows = _store(request).list(
            decision=decision,
            date_from=date_from,
            date_to=date_to,
            ruleset_version=ruleset_version,
            limit=limit,
            offset=offset,
            **_scope(request),
        )
    except SQLAlchemyError as exc:
        raise HTTPException(status_code=503, detail="the decision log is unavailable") from exc
    return AssessmentPage(items=[_record(r) for r in rows], limit=limit, offset=offset)
