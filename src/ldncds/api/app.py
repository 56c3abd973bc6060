"""The FastAPI application: CDS Hooks services, the JSON API, operations endpoints, other packages' routers.

create_app(settings, engine=Engine(...), store=...)   # in-process engine: tests, fast
create_app(settings)                                   # engine in worker processes, store from settings
create_app(Settings(engine_processes=0))               # in-process engine built from the settings
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx
from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from ldncds.engine import Engine, load_ruleset
from ldncds.fhir.adapter import Validation
from ldncds.leanstart import settle
from ldncds.service.errors import install_handlers
from ldncds.service.recorder import DecisionWriter
from ldncds.service.security import (
    JwtVerifier,
    check_bind,
    link_signer,
    listening_addresses,
    non_loopback,
    open_to_network,
    require_client,
)
from ldncds.settings import Settings
from ldncds.store.interface import DecisionStore

from .cors import install_cors
from .guard import GuardMiddleware
from .observability import Metrics, RequestLogMiddleware, configure_logging
from .workers import Job, PooledEngine

log = logging.getLogger("ldncds.http")


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | PooledEngine | None = None,
    store: DecisionStore | None = None,
    fhir_transport: httpx.AsyncBaseTransport | None = None,
    worker_log_level: str | None = None,
) -> FastAPI:
    """Build the app. `engine` an Engine (or engine_processes 0): evaluate in-process; else the work
    of each request (FHIR mapping, engine, cards) runs in restartable worker processes, those of
    `engine` when it is a PooledEngine (its owner closes it) or the app's own.

    `fhir_transport` replaces the network for FHIR and JWKS fetches (tests use httpx.MockTransport).
    `worker_log_level`: the workers write JSON log lines at this level (as `serve` configures them).
    """
    settings = settings or Settings()
    check_bind(settings)
    own_store = store is None
    if store is None:
        store = _open_store(settings)
    own_pool = engine is None
    evaluator = engine or _evaluator(settings, worker_log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watch = None
        if not open_to_network(settings):
            _refuse_inherited_sockets()  # --workers, gunicorn: sockets bound before the app starts
            watch = asyncio.create_task(_refuse_open_sockets())  # uvicorn binds after start-up
        yield
        if watch is not None:
            watch.cancel()
        app.state.writer.close()  # what was queued is written first
        if own_pool and isinstance(evaluator, PooledEngine):
            evaluator.close()
        if own_store and hasattr(app.state.store, "close"):
            app.state.store.close()

    app = FastAPI(
        title="ldncds",
        version=evaluator.version,
        description="Low-dose naltrexone decision support: CDS Hooks 2.0.1 services and a JSON API.",
        lifespan=lifespan,
        docs_url=None,  # served below with local assets (no outside host), or not at all
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    # `/x/` is routed as `/x` by the guard: a redirect would change the URL the JWT audience names.
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.engine = evaluator
    app.state.store = store
    app.state.writer = DecisionWriter(store, settings.store_group_commit_max)
    app.state.metrics = Metrics()
    app.state.fhir_transport = fhir_transport
    app.state.jwt = JwtVerifier(
        settings, http=lambda: httpx.AsyncClient(transport=fhir_transport), store=store
    )
    app.state.links = link_signer(settings) if settings.trusted_issuers else None
    install_handlers(app)
    _routes(app)
    if settings.docs_enabled:
        _docs(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(GuardMiddleware, settings=settings, signer=app.state.links)
    app.add_middleware(RequestLogMiddleware, metrics=app.state.metrics)
    install_cors(app, settings)  # last: CORS wraps every other layer
    return app


_REFUSAL = (
    "refusing to serve without trusted issuers on a non-loopback address; "
    "configure LDNCDS_TRUSTED_ISSUERS or set LDNCDS_INSECURE=true"
)


def _refuse_inherited_sockets() -> None:
    if exposed := non_loopback(listening_addresses() or []):
        log.critical(_REFUSAL, extra={"fields": {"listening": exposed}})
        raise RuntimeError(_REFUSAL)


async def _refuse_open_sockets() -> None:
    """Whatever started us (`uvicorn ... --factory --host 0.0.0.0`, gunicorn, ...): once the server
    listens, an unauthenticated service listening beyond loopback stops itself. Until then, and on
    systems without /proc, the guard middleware answers non-loopback requests with 403."""
    for _ in range(100):
        await asyncio.sleep(0.05)
        addresses = listening_addresses()
        if not addresses:
            continue
        if exposed := non_loopback(addresses):
            log.critical(_REFUSAL, extra={"fields": {"listening": exposed}})
            os.kill(os.getpid(), signal.SIGTERM)
        return


_SWAGGER_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
_ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def _docs(app: FastAPI) -> None:
    """Swagger UI from the swagger-ui-bundle package: every asset from this server."""
    from pathlib import Path

    import swagger_ui_bundle

    folder = Path(swagger_ui_bundle.swagger_ui_path)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="openapi.json",
            title="ldncds API",
            swagger_js_url="docs/assets/swagger-ui-bundle.js",
            swagger_css_url="docs/assets/swagger-ui.css",
            swagger_favicon_url="docs/assets/favicon-32x32.png",
        )
        page.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'"
        )
        return page

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        if name not in _SWAGGER_ASSETS:
            return Response(status_code=404)
        data = await run_in_threadpool((folder / name).read_bytes)
        media = _ASSET_TYPES[Path(name).suffix]
        return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=86400"})


def serve_app() -> FastAPI:
    """Factory for uvicorn (`ldncds serve`): JSON logs, settings from the environment.

    The start-up objects (modules, models, routes: ~150,000 tracked by the cyclic GC) are frozen
    once the app is built: every full collection walked them all, ~100 ms with the event loop
    stopped, a latency spike for every request in flight."""
    settings = Settings()
    configure_logging(settings.log_level)
    app = create_app(settings, worker_log_level=settings.log_level)
    settle()
    return app


def _evaluator(settings: Settings, worker_log_level: str | None) -> Engine | PooledEngine:
    if settings.engine_process_count == 0:
        return Engine(settings.rules_dir)
    return PooledEngine(
        load_ruleset(settings.rules_dir),
        settings.engine_process_count,
        job_timeout=settings.engine_timeout_seconds,
        warm_up=_warm_up_jobs(settings.fhir_validation, settings.site_timezone),
        log_level=worker_log_level,
    )


def _routes(app: FastAPI) -> None:
    # Every router, listed explicitly: a package that fails to import is an error, never missing routes.
    from ldncds.cdshooks.routes import router as cds_router
    from ldncds.pages.web import router as pages_router
    from ldncds.store.routes import router as store_router

    from .routes import api, ops

    app.include_router(ops)
    app.include_router(cds_router)
    app.include_router(api)
    app.include_router(store_router, dependencies=[Depends(require_client)])
    app.include_router(pages_router)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with validation errors documented as they are sent: OperationOutcome,
    status 400 on the CDS Hooks endpoints and 422 elsewhere (see errors.install_handlers)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    outcome = {"$ref": "#/components/schemas/OperationOutcome"}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.get("responses", {})
            default = responses.pop("422", None)
            if default is None:
                continue
            status = "400" if path.startswith("/cds-services") else "422"
            responses.setdefault(status, {"description": default.get("description", "Invalid request")})
            responses[status]["content"] = {"application/json": {"schema": outcome}}
    schema.setdefault("components", {}).setdefault("schemas", {}).pop("HTTPValidationError", None)
    schema["components"]["schemas"].pop("ValidationError", None)
    _document_security(schema, outcome, required=bool(app.state.settings.trusted_issuers))
    app.openapi_schema = schema
    return schema


_OPEN_PATHS = ("/ping", "/healthz", "/readyz", "/rulebook", "/metrics")
_ERRORS = {
    "401": "No valid credential: a CDS client JWT (or, for a page, its link token); empty body",
    "403": "Not served: authentication is off and the request did not arrive on loopback",
    "404": "Unknown, or belongs to another issuer or tenant",
    "413": "The request body, or its JSON, is larger than the configured limits",
}


def _document_security(schema: dict[str, Any], outcome: dict[str, Any], *, required: bool) -> None:
    """The bearer scheme (CDS Hooks client JWT), required on every protected operation when this
    server has trusted issuers (JWT off: declared, not required), and the errors each operation can
    answer: 401 and 403 where protected, 404 where the path names a record, 413 and 400/422 on
    bodies (SECURITY.md)."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "CDS Hooks 2.0.1 client JWT, signed by a trusted issuer (required when JWT is on).",
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if not path.startswith(_OPEN_PATHS):
                if required:
                    operation["security"] = [{"bearerAuth": []}]
                for status in ("401", "403"):
                    responses.setdefault(status, {"description": _ERRORS[status]})
            if "{" in path:
                responses.setdefault("404", {"description": _ERRORS["404"]})
            if method in ("post", "put", "patch"):
                responses.setdefault("413", {"description": _ERRORS["413"], "content": _json(outcome)})
                invalid = "400" if path.startswith("/cds-services") else "422"
                responses.setdefault(invalid, {"description": "Invalid request", "content": _json(outcome)})
            elif operation.get("parameters"):
                responses.setdefault("422", {"description": "Invalid query", "content": _json(outcome)})


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_SUBJECT = {"reference": "Patient/warm-up"}
_WARM_UP_PATIENT = {"resourceType": "Patient", "id": "warm-up", "birthDate": "1970"}
_WARM_UP_SECTIONS: dict[str, Any] = {  # synthetic, one resource of each type the adapter reads
    "conditions": [{"resourceType": "Condition", "id": "c", "subject": _SUBJECT, "code": {"text": "x"}}],
    "medications": [
        {"resourceType": "MedicationRequest", "id": "r", "status": "active", "intent": "order",
         "subject": _SUBJECT, "medicationReference": {"reference": "Medication/m"}},
        {"resourceType": "MedicationStatement", "id": "s", "status": "active", "subject": _SUBJECT,
         "medicationCodeableConcept": {"text": "x"}},
        {"resourceType": "Medication", "id": "m", "code": {"text": "x"}},
    ],
    "procedures": [{"resourceType": "Procedure", "id": "p", "status": "completed", "subject": _SUBJECT}],
    "allergies": [{"resourceType": "AllergyIntolerance", "id": "a", "patient": _SUBJECT}],
    "observations": [{"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"}}],
}  # fmt: skip


def _warm_up_jobs(validation: Validation = "lean", site_timezone: str = "UTC") -> tuple[Job, ...]:
    """First-request costs each worker pays before serving: the work modules, the FHIR model
    classes, the first assessment and its JSON (a Bundle of the synthetic resources), the hook path;
    FHIR read as the requests will be (settings fhir_validation and site_timezone)."""
    from ldncds.cdshooks.work import HookTask, patient_view

    from .work import BodyTask, assess_body

    resources = [_WARM_UP_PATIENT, *(r for section in _WARM_UP_SECTIONS.values() for r in section)]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    hook = {
        "hook": "patient-view",
        "hookInstance": "warm-up",
        "context": {"userId": "Practitioner/warm-up", "patientId": "warm-up"},
        "prefetch": {"patient": _WARM_UP_PATIENT}
        | {key: _bundle(section) for key, section in _WARM_UP_SECTIONS.items()},
    }
    on = date(2026, 1, 1)
    return (
        Job(assess_body, BodyTask(json.dumps(bundle).encode(), True, on, validation, site_timezone)),
        Job(
            patient_view,
            HookTask(
                json.dumps(hook).encode(), on, "http://warm-up.invalid", None, validation, site_timezone
            ),
        ),
    )


def _bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def _open_store(settings: Settings) -> Any:
    from ldncds.store import open_store

    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return open_store(
        settings.effective_database_url,
        group_commit_max=settings.store_group_commit_max,
        group_commit_wait_ms=settings.store_group_commit_wait_ms,
    )
