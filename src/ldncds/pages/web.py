"""HTTP routes of the clinician pages: /assessments/{id}, /rulebook and /static/<file>.

The routes read `request.app.state.store` and `request.app.state.engine` (set by create_app).
Store reads run in the thread pool, so a slow store never blocks the event loop. Links between
pages are relative, so the pages also work under a path prefix behind a reverse proxy.

With JWT on, an assessment page opens only with the short-lived link token the card carries
(`?t=...`, bound to this assessment) or with the CDS client's bearer token, which also scopes it to
the caller's issuer and tenant; otherwise 401. The rulebook holds no patient data and stays open.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from ldncds.engine import Assessment

from ..service.errors import Unauthorized
from .render import STYLESHEET, render, static_file
from .rulebook import cached_rulebook
from .views import render_assessment

log = logging.getLogger(__name__)
router = APIRouter(tags=["pages"])

MAX_ID_LENGTH = 128
# Nothing but our own stylesheet may load: no scripts at all, no outside host, no forms.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _html(body: str, status: int = 200, *, private: bool = True) -> HTMLResponse:
    headers = dict(SECURITY_HEADERS)
    # Assessment pages carry clinical data: never cached by shared or browser caches.
    headers["Cache-Control"] = "no-store" if private else "public, max-age=300"
    return HTMLResponse(body, status_code=status, headers=headers)


def _error_page(status: int, heading: str, message: str, *, depth: str = "../") -> HTMLResponse:
    body = render(
        "error.html",
        title=f"{heading} — ldncds",
        heading=heading,
        message=message,
        css_href=f"{depth}static/{STYLESHEET}",
        rulebook_href=f"{depth}rulebook",
    )
    return _html(body, status)


@router.get(
    "/assessments/{assessment_id}", response_class=HTMLResponse, summary="Assessment explained for clinicians"
)
async def assessment_page(
    assessment_id: str,
    request: Request,
    t: str | None = Query(default=None, max_length=128, description="The card's link token."),
) -> HTMLResponse:
    store = getattr(request.app.state, "store", None)
    if store is None:
        return _error_page(
            503, "Assessments unavailable", "The decision store is not configured on this server."
        )
    try:
        scope = await _page_access(request, assessment_id, t)
    except Unauthorized as exc:
        log.warning("page access refused: %s", exc.reason)
        page = _error_page(
            401,
            "Sign-in needed",
            "This link has expired or is not valid here. Open the card again from the patient's record.",
        )
        page.headers["WWW-Authenticate"] = "Bearer"
        return page
    valid_id = 0 < len(assessment_id) <= MAX_ID_LENGTH
    scoped = {"scope": scope} if scope is not None else {}  # JWT off: stores without tenancy work too
    stored = await run_in_threadpool(store.get, assessment_id, **scoped) if valid_id else None
    if stored is None:
        return _error_page(
            404,
            "Assessment not found",
            "No assessment with this id is stored here. Check the link, or assess the patient again.",
        )
    try:
        assessment = Assessment.model_validate(stored.assessment)
    except ValidationError as exc:
        # The error text may quote patient data; log only where it failed.
        where = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})[:5]
        log.error("stored assessment %s cannot be displayed: invalid at %s", stored.id, where)
        return _error_page(
            500,
            "Assessment cannot be displayed",
            "This assessment was stored in a form this version cannot display. No advice is shown.",
        )
    html = render_assessment(
        assessment, stored.id, recorded_at=stored.created_at, channel=stored.caller.channel
    )
    return _html(html)


async def _page_access(request: Request, assessment_id: str, token: str | None) -> Any:
    """The tenancy scope to read with: None when JWT is off or the link token is valid for this
    assessment; the bearer's scope otherwise. Unauthorized when neither credential is good."""
    verifier = getattr(request.app.state, "jwt", None)
    if verifier is None or not verifier.enabled:
        return None
    signer = request.app.state.links
    if token is not None and signer is not None and signer.valid(assessment_id, token):
        return None
    if token is not None and request.headers.get("authorization") is None:
        raise Unauthorized("page link token invalid or expired")
    claims = await verifier.verify(request.headers.get("authorization"), request.url.path)
    return verifier.scope(claims)


@router.get(
    "/rulebook", response_class=HTMLResponse, summary="Every rule in plain language, with its evidence"
)
def rulebook_page(request: Request) -> HTMLResponse:
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        return _error_page(503, "Rulebook unavailable", "No ruleset is loaded on this server.", depth="")
    return _html(cached_rulebook(engine.ruleset, css_href=f"static/{STYLESHEET}"), private=False)


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> Response:
    data = static_file(name)
    if data is None or not name.endswith(".css"):
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(
        data,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
