"""The first thing every request meets (pure ASGI): where it may come from, how big it may be.

In order: an unauthenticated service (no trusted issuers, not `insecure`) answers only requests
that arrived on a loopback interface, whatever started it; a trailing slash is dropped from the
path (no redirect, which would change the JWT audience); the app's link signer is made current;
a body larger than `max_body_bytes` is refused with 413 before it is read whole; a JSON body is
parsed once here and refused when it is deeper than `max_json_depth` (400/422), holds more than
`max_json_values` values or `max_resources` FHIR resources (413), or holds NaN or Infinity
(400/422 naming the field). Errors are OperationOutcome bodies (400 on /cds-services, 422 elsewhere).
A body read here as exactly the value `json.loads` gives is left in the scope for the route
(service/bodies.py), so FastAPI does not parse it again.
"""

from __future__ import annotations

import ipaddress
import json
import math
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ldncds.jsontext import orjson_read_exactly
from ldncds.service.bodies import PARSED_BODY
from ldncds.service.errors import json_path, outcome
from ldncds.service.links import LinkSigner, reset_link_signer, use_link_signer
from ldncds.service.security import open_to_network
from ldncds.settings import Settings

_JSON_TYPES = ("application/json", "application/fhir+json", "application/json+fhir")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class Limits:
    body_bytes: int
    depth: int
    values: int
    resources: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            settings.max_body_bytes, settings.max_json_depth, settings.max_json_values, settings.max_resources
        )


class Refused(Exception):
    def __init__(self, status: int, message: str, expression: str = "body", code: str = "invalid") -> None:
        super().__init__(message)
        self.status, self.message, self.expression, self.code = status, message, expression, code


class GuardMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, signer: LinkSigner | None) -> None:
        self.app = app
        self.limits = Limits.of(settings)
        self.open = open_to_network(settings)
        self.signer = signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.open and not _arrived_on_loopback(scope):
            await _respond(send, scope, Refused(403, "Not served: authentication is off.", code="security"))
            return
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            raw = scope.get("raw_path") or path.encode()
            scope = dict(scope, path=path.rstrip("/") or "/", raw_path=raw.rstrip(b"/") or b"/")
        token = use_link_signer(self.signer)
        try:
            if scope["method"] in _BODY_METHODS:
                try:
                    body = await _read_body(scope, receive, self.limits.body_bytes)
                    if _is_json(scope):
                        parsed = check_json(body, self.limits)
                        if parsed is not UNREAD:
                            scope[PARSED_BODY] = parsed
                except Refused as refused:
                    await _respond(send, scope, refused)
                    return
                receive = _replay(body)
            await self.app(scope, receive, send)
        finally:
            reset_link_signer(token)


def _arrived_on_loopback(scope: Scope) -> bool:
    server = scope.get("server")
    if not server:  # in-process clients (tests) and unix sockets have no network address
        return True
    host = str(server[0])
    if host in ("testserver", "localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    too_big = Refused(413, f"The request body is larger than {limit} bytes.", code="too-costly")
    declared = dict(scope.get("headers") or []).get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _is_json(scope: Scope) -> bool:
    """As FastAPI decides to parse JSON: no content type at all, `*/json` or `*/*+json` (and FHIR's
    `application/json+fhir`), so no body reaches a route unchecked."""
    content_type = dict(scope.get("headers") or []).get(b"content-type", b"").decode("latin-1").lower()
    media = content_type.split(";")[0].strip()
    subtype = media.partition("/")[2]
    return not media or media in _JSON_TYPES or subtype == "json" or subtype.endswith("+json")


UNREAD: Any = object()  # check_json's answer when the route must read the body itself


def check_json(body: bytes, limits: Limits) -> Any:
    """Refuse a JSON body that is too deep, too large in values or resources, or not finite.
    Answers the body's value when it is exactly `json.loads(body)`, else UNREAD. Unparseable JSON
    is left to the route's own validation, which names it."""
    if not body.strip():
        return UNREAD
    try:
        value = orjson.loads(body)  # the same verdicts as json's reading, twice as fast
    except orjson.JSONDecodeError:  # NaN, Infinity, 1e400, a lone surrogate, nesting past 1024
        try:
            value = json.loads(body)  # as the route will read it
        except RecursionError:
            raise Refused(422, f"The JSON is nested deeper than {limits.depth} levels.") from None
        except ValueError:
            return UNREAD
        _walk(value, limits)
        return value
    try:
        indented = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    except orjson.JSONEncodeError:  # nested past orjson's own limit: the walk decides
        _walk(value, limits)
        return UNREAD
    if not _provably_within(body, indented, limits):
        _walk(value, limits)
    return value if orjson_read_exactly(body, value, indented) else UNREAD


def _provably_within(body: bytes, indented: bytes, limits: Limits) -> bool:
    """True when `body` (read by orjson: every number finite; `indented` is that value written
    with OPT_INDENT_2) is within every limit, decided without walking it in Python; False means the
    walk decides (and names what is wrong).

    Values: every value but the root follows a comma or opens its container, so commas plus
    brackets plus one bound the count. Resources: without a \\u escape a key spelled "resourceType"
    appears as those bytes, so their count bounds the resources. Depth: orjson's indented form puts
    each value of depth d at 2*d spaces, so no line indented 2*(limit+1) means no value too deep.
    """
    if body.count(b",") + body.count(b"[") + body.count(b"{") + 1 > limits.values:
        return False
    if b"\\u" in body or body.count(b'"resourceType"') > limits.resources:
        return False
    return b"\n" + b" " * (2 * (limits.depth + 1)) not in indented


def _walk(value: Any, limits: Limits) -> None:
    # Depth first, last child first. Each entry links to its parent's entry (parent, key), so the
    # path of a value is built only when it is reported: a large chart walks in a few ms.
    stack: list[tuple[Any, int, _Link]] = [(value, 0, None)]
    values = resources = 0
    while stack:
        item, depth, link = stack.pop()
        values += 1
        if values > limits.values:
            raise Refused(413, f"The JSON holds more than {limits.values} values.", code="too-costly")
        if depth > limits.depth:
            raise Refused(422, f"The JSON is nested deeper than {limits.depth} levels.", _path(link))
        if isinstance(item, dict):
            if isinstance(item.get("resourceType"), str):
                resources += 1
                if resources > limits.resources:
                    message = f"The request holds more than {limits.resources} FHIR resources."
                    raise Refused(413, message, code="too-costly")
            stack.extend([(v, depth + 1, (link, k)) for k, v in item.items()])
        elif isinstance(item, list):
            stack.extend([(v, depth + 1, (link, i)) for i, v in enumerate(item)])
        elif isinstance(item, float) and not math.isfinite(item):
            raise Refused(422, "NaN and Infinity are not numbers JSON allows.", _path(link))


_Link = tuple[Any, str | int] | None  # (the parent's link, this value's key or index); None: the root


def _path(link: _Link) -> str:
    parts: list[str | int] = []
    while link is not None:
        link, key = link
        parts.append(key)
    return json_path(parts[::-1])


async def _respond(send: Send, scope: Scope, refused: Refused) -> None:
    status = refused.status
    if status == 422 and scope["path"].startswith("/cds-services"):
        status = 400  # CDS Hooks clients expect 400 for a bad body
    body = json.dumps(outcome(refused.message, code=refused.code, expression=refused.expression)).encode()  # type: ignore[arg-type]
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))  # the rest of the body is not read
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
