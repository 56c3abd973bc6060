"""A JSON request body is parsed once per request.

The guard middleware (api/guard.py) parses every JSON body to check its limits; where its value is
exactly what `json.loads` reads, it leaves that value in the ASGI scope under PARSED_BODY. Routes of
`ParsedBodyRoute` hand it to FastAPI's body validation, which otherwise parses the bytes again (on a
118-resource chart that second parse was a third of the server's CPU). Without the value (no
guard, or a body the guard could not vouch for) FastAPI parses the bytes as before.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

__all__ = ["PARSED_BODY", "ParsedBodyRoute"]

PARSED_BODY = "ldncds.parsed_body"
_ABSENT = object()


class ParsedBodyRoute(APIRoute):
    """An APIRoute whose handler reads the body's value the guard parsed, when there is one."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            request = self.prepare(request)
            parsed = request.scope.get(PARSED_BODY, _ABSENT)
            if parsed is not _ABSENT:
                # Starlette's Request.json() caches its value here; FastAPI reads the body through it.
                request._json = parsed
            return await handler(request)

        return route

    def prepare(self, request: Request) -> Request:
        """The request the handler sees (a subclass may rewrite its headers)."""
        return request
