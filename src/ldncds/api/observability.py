"""One JSON log line per request, request ids, and Prometheus metrics. Never a patient identifier or name.

Routes add what they know to `request.state` (hook, hook_instance, decision); the middleware logs
method, path, status and duration with it. Paths never carry patient ids in this API.

Request id: the caller's `X-Request-ID` when it sends a well-formed one, else the CDS Hooks
`hookInstance` of the request, else a new random id. It is fixed the first time anything needs it
(a log line, or the response header), so every log line of the request and the `X-Request-ID`
response header carry the same value. A malformed header is ignored (never echoed), not refused.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("ldncds.http")
_STATE_FIELDS = {"hook": "hook", "hook_instance": "hookInstance", "decision": "decision", "issuer": "iss"}
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}$")  # a token, never free text


def well_formed_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _REQUEST_ID.match(value) else None


@dataclass
class _RequestContext:
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


_CURRENT: ContextVar[_RequestContext | None] = ContextVar("ldncds_request", default=None)


@contextmanager
def request_id_context(request_id: str | None) -> Iterator[None]:
    """Log lines written inside carry `request_id` (an engine worker, working for that request)."""
    token = _CURRENT.set(_RequestContext(request_id, {}) if request_id else None)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_request_id() -> str | None:
    """The id of the request being served in this context (threads of the request included), if any."""
    context = _CURRENT.get()
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


def _header_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"x-request-id":
            return well_formed_id(value.decode("latin-1"))
    return None


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


class Metrics:
    """Per-app registry, so several apps (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ldncds_http_requests",
            "HTTP requests by route, status and decision.",
            ["method", "route", "status", "decision"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ldncds_http_request_duration_seconds",
            "Request latency by route.",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.decisions = Counter(
            "ldncds_decisions",
            "Assessments recorded, by channel and decision.",
            ["channel", "decision"],
            registry=self.registry,
        )
        self.cards = Counter(
            "ldncds_cards", "CDS Hooks cards returned.", ["service", "indicator"], registry=self.registry
        )
        self.worker_restarts = Gauge(
            "ldncds_engine_worker_restarts", "Engine worker processes replaced.", registry=self.registry
        )


class RequestLogMiddleware:
    """Pure ASGI (no per-request task overhead): sets the request id, echoes it, times the request and
    logs one line when it ends."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        context = _RequestContext(_header_id(scope), scope.setdefault("state", {}))
        token = _CURRENT.set(context)

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", context.request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._record(scope, status, time.perf_counter() - start)
            _CURRENT.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        state = scope.get("state") or {}
        fields: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        fields |= {name: state[key] for key, name in _STATE_FIELDS.items() if state.get(key)}
        log.info("request", extra={"fields": fields})
        self.metrics.requests.labels(scope["method"], route, str(status), state.get("decision") or "").inc()
        self.metrics.latency.labels(route).observe(seconds)
