"""Errors as FHIR OperationOutcome bodies: every 4xx names the field; a 5xx never carries advice."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:  # the web framework is imported where it is used: engine workers raise ApiError too
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response

log = logging.getLogger("ldncds.http")

OPERATION_OUTCOME_PATHS = ("/cds-services", "/api/v1/assessments")
IssueCode = Literal[
    "invalid", "required", "not-found", "processing", "exception", "transient", "security", "too-costly"
]


class Issue(BaseModel):
    severity: Literal["fatal", "error", "warning", "information"]
    code: IssueCode
    diagnostics: str | None = None
    expression: list[str] | None = Field(default=None, description="JSON path(s) of the offending field(s).")


class OperationOutcome(BaseModel):
    resourceType: Literal["OperationOutcome"] = "OperationOutcome"
    issue: list[Issue] = Field(min_length=1)


class ApiError(Exception):
    """An error answered with an OperationOutcome."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: IssueCode = "invalid",
        expression: str | list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.expression = status, message, code, expression

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable (keyword-only arguments; a subclass's own attributes travel as its state), so an
        # engine worker process can answer with it.
        return _api_error, (type(self), self.status, self.message, self.code, self.expression), self.__dict__


def _api_error(
    cls: type[ApiError], status: int, message: str, code: IssueCode, expression: str | list[str] | None
) -> ApiError:
    error = cls.__new__(cls)
    ApiError.__init__(error, status, message, code=code, expression=expression)
    return error


class Unauthorized(Exception):
    """A refused credential: answered 401 with an empty body; the reason is only logged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def outcome(
    message: str, *, code: IssueCode = "invalid", expression: str | list[str] | None = None
) -> dict[str, Any]:
    paths = [expression] if isinstance(expression, str) else expression
    issue = Issue(severity="error", code=code, diagnostics=message, expression=paths or None)
    return OperationOutcome(issue=[issue]).model_dump(exclude_none=True)


def outcome_response(status: int, message: str, **kwargs: Any) -> JSONResponse:
    from fastapi.responses import JSONResponse

    return JSONResponse(outcome(message, **kwargs), status_code=status)


def json_path(loc: Sequence[int | str]) -> str:
    """('body', 'context', 'draftOrders', 'entry', 0) -> 'context.draftOrders.entry[0]'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def _validation_path(loc: Sequence[int | str]) -> str:
    parts = list(loc)
    if parts and parts[0] == "body" or parts and parts[0] in ("query", "path", "header"):
        parts = parts[1:]
    # Tagged unions put the member's tag in the location; it is not part of the JSON.
    parts = [p for p in parts if not (isinstance(p, str) and p.startswith("<") and p.endswith(">"))]
    return json_path(parts) or "body"


def validation_outcome(errors: Sequence[Any]) -> dict[str, Any]:
    """One issue per error (at most 20), each with the path of the bad field, never the bad value."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return outcome("The body is not valid JSON.", expression="body")
    issues = [
        Issue(
            severity="error",
            code="invalid",
            diagnostics=str(e.get("msg", "invalid")),
            expression=[_validation_path(e.get("loc", ()))],
        )
        for e in list(errors)[:20]
    ] or [Issue(severity="error", code="invalid", diagnostics="invalid request")]
    return OperationOutcome(issue=issues).model_dump(exclude_none=True)


def install_handlers(app: FastAPI) -> None:
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return outcome_response(exc.status, exc.message, code=exc.code, expression=exc.expression)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(request: Request, exc: Unauthorized) -> Response:
        log.warning("credential refused", extra={"fields": {"path": request.url.path, "reason": exc.reason}})
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # Our endpoints answer errors as OperationOutcome; other packages' routes keep FastAPI's default.
        if not request.url.path.startswith(OPERATION_OUTCOME_PATHS):
            return await http_exception_handler(request, exc)
        return JSONResponse(
            outcome(str(exc.detail), code="invalid" if exc.status_code < 500 else "exception"),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # Our fault: no advice, no stack trace in the body, and only the error's type in the log.
        log.error(
            "unhandled error", extra={"fields": {"path": request.url.path, "error": type(exc).__name__}}
        )
        return outcome_response(500, "No advice: internal error.", code="exception")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # CDS Hooks clients expect 400 for a bad body; the JSON API keeps FastAPI's 422.
        status = 400 if request.url.path.startswith("/cds-services") else 422
        return JSONResponse(validation_outcome(exc.errors()), status_code=status)
