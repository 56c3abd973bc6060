"""CORS for browser-based CDS clients (the CDS Hooks sandbox, SMART apps, an EHR's web client).

Two things a plain CORSMiddleware set-up got wrong for them:

- **Private Network Access.** Chrome asks a service on a private or loopback address, before a page
  from a public origin may call it, with `Access-Control-Request-Private-Network: true` in the
  preflight. When `cors_private_network` is on, the answer carries
  `Access-Control-Allow-Private-Network: true`; when it is off the preflight is refused (400) naming
  `private-network`, so the reason is visible in the browser's network panel.
- **Request headers.** A preflight asking for any header not in the allowed list is refused. The
  list is configurable (`cors_headers`) and by default holds the headers clients commonly send,
  including `X-Request-ID` (echoed back and exposed to the page, see observability).

Nothing is allowed when `cors_origins` is empty: no CORS headers are sent at all.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp

from ldncds.settings import Settings

PNA_REQUEST = "access-control-request-private-network"
PNA_ALLOW = "Access-Control-Allow-Private-Network"
EXPOSED_HEADERS = ("X-Request-ID",)
METHODS = ("GET", "POST", "OPTIONS")


class PrivateNetworkCORS(CORSMiddleware):
    """Starlette's CORS, with the Private Network Access preflight answered by us on any version."""

    def __init__(self, app: ASGIApp, *, allow_private_network: bool = False, **options: object) -> None:
        super().__init__(app, **options)  # type: ignore[arg-type]
        self.private_network = allow_private_network

    def preflight_response(self, request_headers: Headers) -> Response:
        if request_headers.get(PNA_REQUEST, "").lower() != "true":
            return super().preflight_response(request_headers)
        rest = Headers(
            raw=[(k, v) for k, v in request_headers.raw if k.decode("latin-1").lower() != PNA_REQUEST]
        )
        response = super().preflight_response(rest)
        failures = (
            []
            if response.status_code == 200
            else [bytes(response.body).decode().removeprefix("Disallowed CORS ")]
        )
        if not self.private_network:
            failures.insert(0, "private-network")
        if failures:
            text = "Disallowed CORS " + ", ".join(failures)
            return PlainTextResponse(text, status_code=400, headers=_cors_headers(response))
        response.headers[PNA_ALLOW] = "true"
        return response


def _cors_headers(response: Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def install_cors(app: FastAPI, settings: Settings) -> None:
    """Add the CORS layer when origins are configured (call it last: it must wrap every other layer)."""
    if not settings.cors_origins:
        return
    app.add_middleware(
        PrivateNetworkCORS,  # type: ignore[arg-type]  # starlette types factories as callables returning ASGI apps
        allow_origins=settings.cors_origins,
        allow_methods=METHODS,
        allow_headers=settings.cors_headers,
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=False,  # bearer tokens travel in Authorization, never in cookies
        allow_private_network=settings.cors_private_network,
        max_age=600,
    )
