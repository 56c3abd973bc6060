"""CDS Hooks client authentication: a JWT signed by an allow-listed issuer (CDS Hooks 2.0.1 section 7).

Checks, in order: bearer token; header; `alg` (ES384/RS384, ES256 only if the issuer lists it);
`kid`; `iss` allow-listed; `jku` one of the issuer's registered JWKS URLs (a registered URL, never
the header's own value, is fetched; an inline JWKS answers without any fetch); key by `kid` (JWKS
refetched at most once per miss, rate-limited); signature; `aud` one of the accepted audiences
(default: our public URL of the endpoint, with or without a trailing slash, and the public base
URL); `exp`/`iat` with leeway; lifetime `exp - iat` at most the configured maximum; `tenant` a
string when present; `jti` never used before by any process sharing the store (kept until expiry).
Any failure is `Unauthorized` (401, empty body) with the reason logged; the token is never logged.

Also here: the tenancy scope of a verified caller, the signed short-lived links of the explanation
page, and the guard that keeps an unauthenticated service on loopback whatever started it.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
from fastapi import Request
from jwt import PyJWK
from starlette.concurrency import run_in_threadpool

from ldncds.settings import Settings, TrustedIssuer
from ldncds.store.interface import Caller, Scope

from .errors import ApiError, Unauthorized
from .links import LinkSigner as LinkSigner  # re-exported: callers name the signer with its key

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


def open_to_network(settings: Settings) -> bool:
    """Unauthenticated requests may arrive from other hosts only when the site said so (insecure)."""
    return bool(settings.trusted_issuers) or settings.insecure


def listening_addresses(pid_fds: Path = Path("/proc/self/fd")) -> list[str] | None:
    """Local addresses of the TCP sockets this process listens on (Linux /proc); None elsewhere."""
    try:
        fds = os.listdir(pid_fds)
    except OSError:
        return None
    inodes: set[str] = set()
    for fd in fds:
        try:
            target = os.readlink(pid_fds / fd)
        except OSError:  # closed meanwhile (e.g. the listing's own descriptor)
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found: list[str] = []
    for table, width in (("/proc/self/net/tcp", 4), ("/proc/self/net/tcp6", 16)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                found.append(_proc_address(cols[1].split(":")[0], width))
    return found


def _proc_address(hex_addr: str, width: int) -> str:
    raw = bytes.fromhex(hex_addr)
    # /proc prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words if width == 16 else words[:4]))


def non_loopback(addresses: list[str]) -> list[str]:
    return [a for a in addresses if not _loopback_or_mapped(a)]


def _loopback_or_mapped(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


class JwtVerifier:
    def __init__(
        self,
        settings: Settings,
        http: Callable[[], httpx.AsyncClient] | None = None,
        clock: Callable[[], float] = time.time,
        store: Any = None,
    ) -> None:
        self._issuers = {i.iss: i for i in settings.trusted_issuers}
        self._base = settings.public_base_url.rstrip("/")
        self._audiences = list(settings.jwt_audiences)
        self._max_lifetime = settings.jwt_max_lifetime_seconds
        self._audit_scope = settings.audit_scope
        # The shared replay cache lives in the store; a store without it (tests) keeps jti in memory.
        self._store = store if self._issuers and hasattr(store, "claim_jti") else None
        self._leeway = settings.jwt_leeway_seconds
        self._timeout = settings.fhir_timeout_seconds
        self._http = http or httpx.AsyncClient
        self._clock = clock
        self._keys: dict[str, dict[str, dict[str, Any]]] = {}  # JWKS URL -> kid -> JWK
        self._fetched_at: dict[str, float] = {}  # JWKS URL -> last fetch
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
        jku = header.get("jku")
        if jku is not None and jku not in issuer.registered_jkus:
            raise Unauthorized("jku is not one of the issuer's registered JWKS URLs")
        key = await self._key(issuer, kid, alg, jku)
        claims = self._decode(token, key, alg, issuer.iss, self.audiences(path))
        self._check_lifetime(claims)
        if not isinstance(claims.get("tenant", ""), str):
            raise Unauthorized("tenant claim is not a string")
        if issuer.tenants and claims.get("tenant") not in issuer.tenants:
            raise Unauthorized("tenant not allowed for this issuer")
        await self._remember(issuer.iss, claims)
        return claims

    def audiences(self, path: str) -> list[str]:
        """Accepted `aud` values for an endpoint: configured, or the endpoint's URL and our base URL."""
        if self._audiences:
            return self._audiences
        endpoint = self._base + path.rstrip("/")
        return [endpoint, endpoint + "/", self._base, self._base + "/"]

    def scope(self, claims: dict[str, Any]) -> Scope:
        """Whose records this caller sees: its issuer and tenant, or all when an auditor's token."""
        issuer = self._issuers[claims["iss"]]
        scopes = claims.get("scope")
        granted = scopes.split() if isinstance(scopes, str) else []
        audit = issuer.may_audit and self._audit_scope in granted
        return Scope(issuer=claims["iss"], tenant=claims.get("tenant"), audit=audit)

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        exp, iat = claims["exp"], claims["iat"]
        if not isinstance(exp, int | float) or exp - iat > self._max_lifetime + self._leeway:
            raise Unauthorized("token lifetime exceeds the maximum")

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

    def _decode(self, token: str, key: Any, alg: str, iss: str, audience: list[str]) -> dict[str, Any]:
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

    async def _remember(self, iss: str, claims: dict[str, Any]) -> None:
        now = self._clock()
        expires = float(claims["exp"]) + self._leeway
        if len(claims["jti"]) > 256:
            raise Unauthorized("jti too long")
        if self._store is not None:
            try:
                fresh = await run_in_threadpool(self._store.claim_jti, iss, claims["jti"], expires, now)
            except Exception as exc:  # fail closed: a token we cannot check for replay is not accepted
                log.error("jti check failed", extra={"fields": {"error": type(exc).__name__}})
                raise ApiError(
                    503, "Cannot check the token now. Please try again.", code="transient"
                ) from None
            if not fresh:
                raise Unauthorized("jti replayed")
            return
        key = (iss, claims["jti"])
        with self._lock:
            if self._seen.get(key, 0) > now:
                raise Unauthorized("jti replayed")
            if len(self._seen) >= _MAX_REMEMBERED_JTI:
                self._seen = {k: exp for k, exp in self._seen.items() if exp > now}
            self._seen[key] = float(claims["exp"]) + self._leeway

    async def _key(self, issuer: TrustedIssuer, kid: str, alg: str, jku: str | None) -> Any:
        urls = [jku] if jku else issuer.registered_jkus  # only registered URLs are ever fetched
        jwk, source = self._find(issuer, kid, urls)
        if jwk is None or (source is not None and self._stale(source)):
            for url in urls:
                if self._may_refresh(url):
                    await self._fetch(issuer, url)
            jwk, source = self._find(issuer, kid, urls)
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

    def _find(
        self, issuer: TrustedIssuer, kid: str, urls: list[str]
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The key and the URL it was fetched from (None: inline). An inline JWKS is the site's own
        copy of the issuer's keys: it answers first, for any registered jku, without an outbound call."""
        if issuer.jwks is not None and (hit := _index(issuer.jwks).get(kid)) is not None:
            return hit, None
        for url in urls:
            if (hit := self._keys.get(url, {}).get(kid)) is not None:
                return hit, url
        return None, None

    def _stale(self, url: str) -> bool:
        return self._clock() - self._fetched_at.get(url, float("-inf")) > _JWKS_MAX_AGE_SECONDS

    def _may_refresh(self, url: str) -> bool:
        now = self._clock()
        with self._lock:
            if now - self._fetched_at.get(url, float("-inf")) < _REFRESH_INTERVAL_SECONDS:
                return False
            self._fetched_at[url] = now
            return True

    async def _fetch(self, issuer: TrustedIssuer, url: str) -> None:
        try:
            async with self._http() as client:
                response = await client.get(url, timeout=self._timeout)
            response.raise_for_status()
            keys = _index(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning(
                "JWKS fetch failed", extra={"fields": {"iss": issuer.iss, "error": type(exc).__name__}}
            )
            return
        self._keys[url] = keys


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
    """FastAPI dependency: verify the CDS client's JWT when issuers are configured; the verified
    issuer, tenant and scope go on request.state (tenancy reads them there, never from the body)."""
    verifier: JwtVerifier = request.app.state.jwt
    if not verifier.enabled:
        return
    claims = await verifier.verify(request.headers.get("authorization"), request.url.path)
    request.state.issuer = claims["iss"]
    request.state.tenant = claims.get("tenant")
    request.state.scope = verifier.scope(claims)


def caller_scope(request: Request) -> Scope | None:
    """The records this request may see; None (all) only when JWT is off."""
    return getattr(request.state, "scope", None)


def with_identity(request: Request, caller: Caller) -> Caller:
    """The caller as recorded: issuer and tenant always from the verified token (None with JWT off)."""
    update = {
        "issuer": getattr(request.state, "issuer", None),
        "tenant": getattr(request.state, "tenant", None),
    }
    return caller.model_copy(update=update)


def require_metrics_token(request: Request) -> None:
    """/metrics with JWT on: only with the configured metrics token (none configured: not served)."""
    settings: Settings = request.app.state.settings
    if not settings.trusted_issuers:
        return
    if settings.metrics_token is None:
        raise ApiError(404, "Not found.", code="not-found")
    expected = f"Bearer {settings.metrics_token.get_secret_value()}"
    if not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected.encode()):
        raise Unauthorized("metrics token missing or wrong")


# ------------------------------------------------------------------------ links of the explanation page
# The signer and the request's current signer live in links.py (light: the engine workers sign the
# cards' links); the site's key is read here.

_KEY_FILE = "link-token.key"


def link_signer(settings: Settings) -> LinkSigner:
    key = settings.link_token_key.get_secret_value().encode() if settings.link_token_key else None
    return LinkSigner(key or _key_file(settings.data_dir), settings.link_token_seconds)


def _key_file(data_dir: Path) -> bytes:
    """The site's link key, generated once into data_dir; every process and restart reads the same one."""
    path = data_dir / _KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".{_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)  # atomic: the first process to start wins, the others read its key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path}: link token key is too short (delete it to generate a new one)")
    return key.encode()
