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
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import (
    CURRENT_REQUEST,
    JsonFormatter,
    RequestContext,
    configure_logging,
    current_request_id,
    request_id_context,
    well_formed_id,
)

__all__ = [
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "Metrics",
    "RequestLogMiddleware",
    "configure_logging",
    "current_request_id",
    "request_id_context",
    "well_formed_id",
]

log = logging.getLogger("ldncds.http")
_STATE_FIELDS = {"hook": "hook", "hook_instance": "hookInstance", "decision": "decision", "issuer": "iss"}
REQUEST_ID_HEADER = "X-Request-ID"


def _header_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"x-request-id":
            return well_formed_id(value.decode("latin-1"))
    return None


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
        context = RequestContext(_header_id(scope), scope.setdefault("state", {}))
        token = CURRENT_REQUEST.set(context)

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
            CURRENT_REQUEST.reset(token)

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
