"""Log lines as JSON, and the request id every line of a request carries. Never a patient identifier.

Kept apart from the metrics and the HTTP middleware (observability.py) so an engine worker process
writes the same lines without importing prometheus_client or Starlette.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}$")  # a token, never free text


def well_formed_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _REQUEST_ID.match(value) else None


@dataclass
class RequestContext:
    """One request's id sources; `scope_state` is the dict routes write `request.state` into."""

    header: str | None
    scope_state: dict[str, Any]
    chosen: str | None = None

    @property
    def request_id(self) -> str:
        if self.chosen is None:
            hook_instance = well_formed_id(self.scope_state.get("hook_instance"))
            self.chosen = self.header or hook_instance or uuid.uuid4().hex
        return self.chosen


CURRENT_REQUEST: ContextVar[RequestContext | None] = ContextVar("ldncds_request", default=None)


@contextmanager
def request_id_context(request_id: str | None) -> Iterator[None]:
    """Log lines written inside carry `request_id` (an engine worker, working for that request)."""
    token = CURRENT_REQUEST.set(RequestContext(request_id, {}) if request_id else None)
    try:
        yield
    finally:
        CURRENT_REQUEST.reset(token)


def current_request_id() -> str | None:
    """The id of the request being served in this context (threads of the request included), if any."""
    context = CURRENT_REQUEST.get()
    return context.request_id if context is not None else None


class JsonFormatter(_LibraryJsonFormatter):
    """`{"ts", "level", "logger", "msg", "request_id", ...fields}` via python-json-logger.

    An exception gives its type only, never its text or traceback (they can quote patient data).
    """

    def __init__(self) -> None:
        super().__init__(json_default=str, json_ensure_ascii=False)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict) -> None:
        log_data["ts"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["msg"] = record.getMessage()
        if (request_id := current_request_id()) is not None:
            log_data["request_id"] = request_id
        log_data.update(getattr(record, "fields", None) or {})
        if record.exc_info and record.exc_info[0] is not None:
            log_data["error"] = record.exc_info[0].__name__

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return ""  # the type is logged by add_fields; the text and traceback never are

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return ""


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our request line replaces it
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its lines hold URLs, which hold patient ids
