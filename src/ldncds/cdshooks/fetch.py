"""Reading a hook's missing prefetch keys from the EHR's FHIR server (server process only).

`gather` takes each key from the prefetch when present, else reads it from `fhirServer` with the
hook's `fhirAuthorization` token, completing paged searches and reading referenced Medications.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ldncds.fhir import MISSING
from ldncds.fhir.references import reference_id

from .prefetch import PREFETCH_KEYS, RESOLVED_MEDICATIONS, Gathered, PrefetchKey, failed, has_next, render

if TYPE_CHECKING:  # httpx is imported where a fetch happens
    import httpx

log = logging.getLogger("ldncds.fhir.fetch")
_MAX_MEDICATION_READS = 50


def fhir_server_allowed(server: str, allowlist: list[str]) -> bool:
    """Whether the token may be sent to `server`: a listed base URL prefix, or '*' for public https.

    Loopback, link-local and private addresses (and `localhost`) are refused unless listed
    explicitly: a hook request must not make the service probe its own network.
    """
    import httpx

    try:
        url = httpx.URL(server)
    except (httpx.InvalidURL, ValueError):
        return False
    if url.scheme not in ("http", "https") or not url.host:
        return False
    base = str(url).rstrip("/") + "/"
    for entry in allowlist:
        if entry != "*" and base.lower().startswith(entry.rstrip("/").lower() + "/"):
            return True
    return "*" in allowlist and url.scheme == "https" and not _internal_host(url.host)


def _internal_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_link_local or address.is_private or address.is_unspecified


@dataclass(frozen=True)
class FetchLimits:
    """Bounds on what one hook request may read from a FHIR server (settings with safe defaults)."""

    timeout: float = 5.0  # per HTTP operation
    deadline: float = 10.0  # all fetches of one request together
    max_bytes: int = 20_000_000  # one response
    max_pages: int = 50  # per search


class _TooLarge(Exception):
    pass


class FhirFetcher:
    """Reads from the EHR's FHIR server with the hook's bearer token, for this one request only.

    Never logs URLs (they hold the patient id) or the token; follows `next` links only on the same
    server; every read is bounded in size, and all reads of the request share one deadline, so a
    slow-drip or huge response ends in "not available" for that key, never in a hung request.
    """

    def __init__(self, client: httpx.AsyncClient, base_url: str, token: str, limits: FetchLimits) -> None:
        self._client = client
        self._base = base_url.rstrip("/") + "/"
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
        self._limits = limits
        self._deadline = time.monotonic() + limits.deadline

    async def get(self, key: PrefetchKey, relative: str) -> Any:
        """The key's value as prefetch would carry it: a resource or one Bundle, None or MISSING."""
        if key.is_read:
            return await self.read(key.key, relative)
        _, first = await self._get(key.key, self._base + relative)
        return MISSING if first is MISSING else await self.follow(key.key, first)

    async def read(self, key: str, relative: str) -> Any:
        status, body = await self._get(key, self._base + relative)
        return None if status in (404, 410) else body  # 404/410: the server looked, no such resource

    async def follow(self, key: str, bundle: dict[str, Any]) -> dict[str, Any]:
        """A search Bundle with the entries of all its `next` pages (within the limits).

        When a page cannot be had the result keeps that page's `next` link, which the adapter reads
        as "more data exist": the section is then incomplete, never taken as complete.
        """
        entries = list(bundle.get("entry") or []) if isinstance(bundle.get("entry"), list) else []
        current, pages = bundle, 1
        while pages < self._limits.max_pages and (url := self._next_url(current)):
            _, page = await self._get(key, url)
            if page is MISSING or page.get("resourceType") != "Bundle":
                break
            page_entries = page.get("entry") or []
            entries += page_entries if isinstance(page_entries, list) else []
            current, pages = page, pages + 1
        if current is bundle:
            return bundle
        return {**bundle, "entry": entries, "link": current.get("link") or []}

    async def _get(self, key: str, url: str) -> tuple[int, Any]:
        """(HTTP status, JSON object or MISSING); failures are logged by key and reason only."""
        import httpx

        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            log.warning("FHIR fetch skipped: deadline passed", extra={"fields": {"key": key}})
            return 0, MISSING
        try:
            async with asyncio.timeout(remaining):
                return await self._fetch(key, url)
        except TimeoutError:
            log.warning("FHIR fetch stopped at the deadline", extra={"fields": {"key": key}})
        except _TooLarge:
            log.warning("FHIR response too large", extra={"fields": {"key": key}})
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # ValueError: bad URL/header/JSON
            log.warning("FHIR fetch failed", extra={"fields": {"key": key, "error": type(exc).__name__}})
        return 0, MISSING

    async def _fetch(self, key: str, url: str) -> tuple[int, Any]:
        limit = self._limits.max_bytes
        request = self._client.build_request("GET", url, headers=self._headers, timeout=self._limits.timeout)
        response = await self._client.send(request, stream=True)
        try:
            if response.status_code != 200:
                log.warning(
                    "FHIR fetch refused", extra={"fields": {"key": key, "status": response.status_code}}
                )
                return response.status_code, MISSING
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _TooLarge
            body = bytearray()
            async for chunk in response.aiter_bytes():  # decoded: a gzip bomb is capped too
                body += chunk
                if len(body) > limit:
                    raise _TooLarge
        finally:
            await response.aclose()
        parsed = json.loads(bytes(body))
        return response.status_code, parsed if isinstance(parsed, dict) else MISSING

    def serves(self, reference: Any) -> bool:
        """A literal reference this server can resolve: relative, or an absolute URL on this server."""
        if not isinstance(reference, str) or reference.startswith(("#", "urn:")):
            return False
        return "://" not in reference or reference.startswith(self._base)

    def _next_url(self, bundle: dict[str, Any]) -> str | None:
        for link in bundle.get("link") or []:
            if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
                url = link["url"]
                # The token is only ever sent to the server the EHR named.
                return url if url.startswith(self._base) else None
        return None


async def gather(
    prefetch: Mapping[str, Any] | None,
    context: Mapping[str, Any],
    fetcher: FhirFetcher | None,
    keys: tuple[PrefetchKey, ...] = PREFETCH_KEYS,
) -> Gathered:
    """Take each key from the prefetch when present (null included), else fetch it, else MISSING.

    With a fetcher, a prefetched search that has `next` pages is completed from the server too, and
    Medications referenced but not supplied are read one by one.
    """
    prefetch = prefetch or {}
    out = Gathered()
    jobs: list[tuple[str, bool, Any]] = []  # (key, completes a prefetched page?, coroutine)
    for key in keys:
        value = prefetch.get(key.key, MISSING)
        if key.key in prefetch and not (fetcher and failed(value)):
            out.values[key.key] = value  # a failed prefetch is refetched when we can
            if fetcher and has_next(value):
                jobs.append((key.key, True, fetcher.follow(key.key, value)))
            continue
        relative = render(key.template, context) if fetcher else None
        if relative is None or fetcher is None:
            out.values[key.key] = MISSING
        else:
            jobs.append((key.key, False, fetcher.get(key, relative)))
    if jobs:
        results = await asyncio.gather(*(job for _, _, job in jobs))
        for (name, completes, _), value in zip(jobs, results, strict=True):
            out.values[name] = value
            if not completes and value is not MISSING:
                out.fetched.append(name)
    if fetcher is not None:
        await _resolve_medications(out, fetcher)
    return out


async def _resolve_medications(out: Gathered, fetcher: FhirFetcher) -> None:
    """Read the Medications that medication records reference but no Bundle includes or contains."""
    wanted: list[str] = []
    have: set[str] = set()
    for key in PREFETCH_KEYS:
        if key.section != "medications":
            continue
        for resource in _resources(out.values.get(key.key)):
            if resource.get("resourceType") == "Medication" and isinstance(resource.get("id"), str):
                have.add(resource["id"])
            ref = resource.get("medicationReference")
            reference = ref.get("reference") if isinstance(ref, dict) else None
            mid = reference_id(reference, "Medication") if fetcher.serves(reference) else None
            if mid and mid not in wanted:
                wanted.append(mid)
    wanted = [m for m in wanted if m not in have][:_MAX_MEDICATION_READS]
    if not wanted:
        return
    found = await asyncio.gather(
        *(fetcher.read(RESOLVED_MEDICATIONS, f"Medication/{quote(m, safe='')}") for m in wanted)
    )
    entries = [
        {"resource": r} for r in found if isinstance(r, dict) and r.get("resourceType") == "Medication"
    ]
    if entries:
        out.values[RESOLVED_MEDICATIONS] = {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _resources(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") != "Bundle":
        return [value]
    entry = value.get("entry")
    entries = entry if isinstance(entry, list) else []
    return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


__all__ = ["FetchLimits", "FhirFetcher", "fhir_server_allowed", "gather"]
