"""One JSON log line per request, and Prometheus metrics. Never a patient identifier or name.

Routes add what they know to `request.state` (hook, hook_instance, decision); the middleware logs
method, path, status and duration with it. Paths never carry patient ids in this API.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("ldncds.http")
_STATE_FIELDS = {"hook": "hook", "hook_instance": "hookInstance", "decision": "decision", "issuer": "iss"}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...fields}`; an exception gives its type only (no traceback text)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(getattr(record, "fields", None) or {})
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
        return json.dumps(out, default=str)


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
    """Pure ASGI (no per-request task overhead): times the request and logs one line when it ends."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._record(scope, status, time.perf_counter() - start)

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
