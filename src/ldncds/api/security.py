"""CDS Hooks client authentication: a JWT signed by an allow-listed issuer (CDS Hooks 2.0.1 section 7).

Checks, in order: bearer token; header; `alg` (ES384/RS384, ES256 only if the issuer lists it);
`kid`; `iss` allow-listed; `jku` equal to the issuer's registered JWKS URL (never fetched itself);
key by `kid` (JWKS refetched at most once per miss, rate-limited); signature; `aud` = our public URL
of the endpoint; `exp`/`iat` with leeway; `jti` never seen before. Any failure is `Unauthorized`
(401, empty body) with the reason logged; the token itself is never logged.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from fastapi import Request
from jwt import PyJWK

from ldncds.settings import Settings, TrustedIssuer

from .errors import Unauthorized

log = logging.getLogger("ldncds.security")

SUPPORTED_ALGORITHMS = frozenset({"ES384", "RS384", "ES256"})
_CURVE = {"ES384": "P-384", "ES256": "P-256"}
_REFRESH_INTERVAL_SECONDS = 30.0  # at most one JWKS fetch per issuer in this time (unknown kids are cheap)
_JWKS_MAX_AGE_SECONDS = 3600.0  # a key the EHR withdrew stops working within the hour
_MAX_REMEMBERED_JTI = 100_000


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings) -> None:
    """Refuse an open, unauthenticated service: a non-loopback bind needs trusted issuers or --insecure."""
    if settings.trusted_issuers:
        return
    if is_loopback(settings.host) or settings.insecure:
        log.warning(
            "JWT authentication is OFF (no trusted issuers configured)",
            extra={"fields": {"host": settings.host, "insecure": settings.insecure}},
        )
        return
    raise RuntimeError(
        f"refusing to serve on {settings.host} without trusted issuers: configure LDNCDS_TRUSTED_ISSUERS "
        "or pass --insecure"
    )


class JwtVerifier:
    def __init__(
        self,
        settings: Settings,
        http: Callable[[], httpx.AsyncClient] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._issuers = {i.iss: i for i in settings.trusted_issuers}
        self._base = settings.public_base_url.rstrip("/")
        self._leeway = settings.jwt_leeway_seconds
        self._timeout = settings.fhir_timeout_seconds
        self._http = http or httpx.AsyncClient
        self._clock = clock
        self._keys: dict[str, dict[str, dict[str, Any]]] = {}  # iss -> kid -> JWK
        self._fetched_at: dict[str, float] = {}
        self._seen: dict[tuple[str, str], float] = {}  # (iss, jti) -> expiry
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._issuers)

    async def verify(self, authorization: str | None, path: str) -> dict[str, Any]:
        token = _bearer(authorization)
        header = _header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in SUPPORTED_ALGORITHMS:
            raise Unauthorized(f"algorithm {alg!r} not allowed")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("no kid in the JWT header")
        if header.get("typ") not in (None, "JWT"):
            raise Unauthorized("typ is not JWT")
        issuer = self._issuer(token)
        if alg not in issuer.algorithms:
            raise Unauthorized(f"algorithm {alg} not allowed for this issuer")
        if "jku" in header and header["jku"] != issuer.jwks_url:
            raise Unauthorized("jku is not the issuer's registered JWKS URL")
        key = await self._key(issuer, kid, alg)
        claims = self._decode(token, key, alg, issuer.iss, self._base + path)
        self._remember(issuer.iss, claims)
        return claims

    def _issuer(self, token: str) -> TrustedIssuer:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"unreadable claims ({type(exc).__name__})") from None
        iss = unverified.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise Unauthorized("issuer not trusted")
        return issuer

    def _decode(self, token: str, key: Any, alg: str, iss: str, audience: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audience,
                issuer=iss,
                leeway=self._leeway,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"JWT rejected ({type(exc).__name__})") from None
        iat = claims["iat"]
        if not isinstance(iat, int | float) or iat > self._clock() + self._leeway:
            raise Unauthorized("iat is in the future")
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise Unauthorized("jti missing")
        return claims

    def _remember(self, iss: str, claims: dict[str, Any]) -> None:
        now = self._clock()
        key = (iss, claims["jti"])
        with self._lock:
            if self._seen.get(key, 0) > now:
                raise Unauthorized("jti replayed")
            if len(self._seen) >= _MAX_REMEMBERED_JTI:
                self._seen = {k: exp for k, exp in self._seen.items() if exp > now}
            self._seen[key] = float(claims["exp"]) + self._leeway

    async def _key(self, issuer: TrustedIssuer, kid: str, alg: str) -> Any:
        jwk = self._jwks(issuer).get(kid)
        if (jwk is None or self._stale(issuer.iss)) and issuer.jwks_url and self._may_refresh(issuer.iss):
            await self._fetch(issuer)
            jwk = self._jwks(issuer).get(kid)
        if jwk is None:
            raise Unauthorized("unknown kid")
        if jwk.get("alg") not in (None, alg):
            raise Unauthorized("key is not for this algorithm")
        if alg in _CURVE and jwk.get("crv") != _CURVE[alg]:
            raise Unauthorized("key curve does not match the algorithm")
        try:
            return PyJWK(jwk, algorithm=alg).key
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise Unauthorized(f"unusable key ({type(exc).__name__})") from None

    def _jwks(self, issuer: TrustedIssuer) -> dict[str, dict[str, Any]]:
        if issuer.jwks is not None:
            return _index(issuer.jwks)
        return self._keys.get(issuer.iss, {})

    def _stale(self, iss: str) -> bool:
        return self._clock() - self._fetched_at.get(iss, float("-inf")) > _JWKS_MAX_AGE_SECONDS

    def _may_refresh(self, iss: str) -> bool:
        now = self._clock()
        with self._lock:
            if now - self._fetched_at.get(iss, float("-inf")) < _REFRESH_INTERVAL_SECONDS:
                return False
            self._fetched_at[iss] = now
            return True

    async def _fetch(self, issuer: TrustedIssuer) -> None:
        assert issuer.jwks_url is not None
        try:
            async with self._http() as client:
                response = await client.get(issuer.jwks_url, timeout=self._timeout)
            response.raise_for_status()
            keys = _index(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning(
                "JWKS fetch failed", extra={"fields": {"iss": issuer.iss, "error": type(exc).__name__}}
            )
            return
        self._keys[issuer.iss] = keys


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("no Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("not a bearer token")
    return token.strip()


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"unreadable header ({type(exc).__name__})") from None
    return header


def _index(jwks: Any) -> dict[str, dict[str, Any]]:
    if isinstance(jwks, str):
        jwks = json.loads(jwks)
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    return {k["kid"]: k for k in keys or [] if isinstance(k, dict) and isinstance(k.get("kid"), str)}


async def require_client(request: Request) -> None:
    """FastAPI dependency: verify the CDS client's JWT when issuers are configured."""
    verifier: JwtVerifier = request.app.state.jwt
    if not verifier.enabled:
        return
    claims = await verifier.verify(request.headers.get("authorization"), request.url.path)
    request.state.issuer = claims["iss"]
