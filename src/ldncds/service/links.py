"""Short-lived signed links to an assessment's explanation page, and the signer of the request
being served (a context variable the guard sets; an engine worker is handed it with the work).

Light on purpose (no web framework, no store): the engine workers import it to sign card links.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import time
from collections.abc import Callable

_current_signer: contextvars.ContextVar[LinkSigner | None] = contextvars.ContextVar(
    "ldncds_link_signer", default=None
)


class LinkSigner:
    """Short-lived page links: `<expiry>.<HMAC-SHA256(key, "<assessment id>.<expiry>")>`, base64url.

    The token is bound to one assessment and expires; it goes in the query string, which the request
    log never writes (it logs the path only), and the pages send no Referer."""

    def __init__(self, key: bytes, lifetime_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._key, self._lifetime, self._clock = key, lifetime_seconds, clock

    def token(self, assessment_id: str) -> str:
        expiry = int(self._clock()) + self._lifetime
        return f"{expiry}.{self._mac(assessment_id, expiry)}"

    def valid(self, assessment_id: str, token: str | None) -> bool:
        expiry_text, _, mac = (token or "").partition(".")
        if not expiry_text.isdigit() or len(expiry_text) > 12:
            return False
        expiry = int(expiry_text)
        if expiry < self._clock() or expiry > self._clock() + self._lifetime + 60:
            return False
        return hmac.compare_digest(mac.encode(), self._mac(assessment_id, expiry).encode())

    def _mac(self, assessment_id: str, expiry: int) -> str:
        digest = hmac.new(self._key, f"{assessment_id}.{expiry}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def use_link_signer(signer: LinkSigner | None) -> contextvars.Token[LinkSigner | None]:
    return _current_signer.set(signer)


def current_link_signer() -> LinkSigner | None:
    """The signer of the request being served (an engine worker is handed it with the work)."""
    return _current_signer.get()


def reset_link_signer(token: contextvars.Token[LinkSigner | None]) -> None:
    _current_signer.reset(token)


def link_token(assessment_id: str) -> str | None:
    """The page token for an assessment, signed with the key of the app serving this request
    (None when JWT is off or outside a request: the page then needs no token)."""
    signer = _current_signer.get()
    return signer.token(assessment_id) if signer is not None else None


def link_query(assessment_id: str) -> str:
    """'?t=<token>' to append to the page URL of an assessment, or '' when no token is needed."""
    token = link_token(assessment_id)
    return f"?t={token}" if token else ""
