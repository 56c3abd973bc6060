"""Prefetch templates, and getting each datum from the prefetch or else from the EHR's FHIR server.

Per CDS Hooks 2.0.1 section 4.3: a key present with `null` means "looked, found nothing"; an absent key
is fetched from `fhirServer` with the `fhirAuthorization` token when there is one, and is otherwise
unknown (MISSING). Search filters in the templates are a courtesy to the EHR: the FHIR adapter
re-checks every status, so a client that ignores them cannot change the answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from ldncds.fhir import MISSING

log = logging.getLogger("ldncds.fhir.fetch")

PATIENT = "{{context.patientId}}"


@dataclass(frozen=True)
class PrefetchKey:
    key: str
    template: str
    section: str  # "patient" or a section of ldncds.fhir.facts_from_resources
    is_read: bool = False


# No status filter on medications: the washout rules need opioids that stopped recently. No code or
# category filter on observations: a positive opiate screen may sit in a panel's component or lack a
# category; newest first, so the page limit drops only the oldest.
PREFETCH_KEYS: tuple[PrefetchKey, ...] = (
    PrefetchKey("patient", f"Patient/{PATIENT}", "patient", is_read=True),
    PrefetchKey("conditions", f"Condition?patient={PATIENT}", "conditions"),
    PrefetchKey("medications", f"MedicationRequest?patient={PATIENT}", "medications"),
    PrefetchKey("medicationStatements", f"MedicationStatement?patient={PATIENT}", "medications"),
    PrefetchKey("procedures", f"Procedure?patient={PATIENT}", "procedures"),
    PrefetchKey("allergies", f"AllergyIntolerance?patient={PATIENT}", "allergies"),
    PrefetchKey("observations", f"Observation?patient={PATIENT}&_sort=-date&_count=100", "observations"),
)
TEMPLATES: dict[str, str] = {k.key: k.template for k in PREFETCH_KEYS}
_TOKEN = re.compile(r"\{\{\s*context\.(\w+)\s*\}\}")


def render(template: str, context: Mapping[str, Any]) -> str | None:
    """Fill `{{context.x}}` tokens (URL-quoted); None when a token has no primitive value."""
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        value = context.get(match.group(1))
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            missing = True
            return ""
        return quote(str(value), safe="")

    rendered = _TOKEN.sub(fill, template)
    return None if missing else rendered


class FhirFetcher:
    """Reads from the EHR's FHIR server with the hook's bearer token, for this one request only.

    Never logs URLs (they hold the patient id) or the token; follows `next` links only on the same server.
    """

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, token: str, *, timeout: float, max_pages: int
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/") + "/"
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
        self._timeout = timeout
        self._max_pages = max_pages

    async def get(self, key: PrefetchKey, relative: str) -> Any:
        """The key's value as prefetch would carry it: resource, list of Bundle pages, None or MISSING."""
        if key.is_read:
            return await self._read(key.key, relative)
        return await self._search(key.key, relative)

    async def _get(self, key: str, url: str) -> tuple[int, Any]:
        """(HTTP status, JSON object or MISSING); failures are logged by key and status only."""
        try:
            response = await self._client.get(url, headers=self._headers, timeout=self._timeout)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # ValueError: unusable URL or header
            log.warning("FHIR fetch failed", extra={"fields": {"key": key, "error": type(exc).__name__}})
            return 0, MISSING
        if response.status_code != 200:
            log.warning("FHIR fetch refused", extra={"fields": {"key": key, "status": response.status_code}})
            return response.status_code, MISSING
        try:
            body = response.json()
        except ValueError:
            log.warning("FHIR fetch returned no JSON", extra={"fields": {"key": key}})
            return response.status_code, MISSING
        return response.status_code, body if isinstance(body, dict) else MISSING

    async def _read(self, key: str, relative: str) -> Any:
        status, body = await self._get(key, self._base + relative)
        return None if status in (404, 410) else body  # 404/410: the server looked, no such resource

    async def _search(self, key: str, relative: str) -> Any:
        _, first = await self._get(key, self._base + relative)
        if first is MISSING:
            return MISSING
        pages = [first]
        while len(pages) < self._max_pages and (url := self._next_url(pages[-1])):
            _, page = await self._get(key, url)
            if page is MISSING:
                break  # the last page keeps its next link: the adapter marks the section incomplete
            pages[-1] = _without_next(pages[-1])
            pages.append(page)
        return pages

    def _next_url(self, bundle: dict[str, Any]) -> str | None:
        for link in bundle.get("link") or []:
            if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
                url = link["url"]
                # The token is only ever sent to the server the EHR named.
                return url if url.startswith(self._base) else None
        return None


def _without_next(bundle: dict[str, Any]) -> dict[str, Any]:
    links = [x for x in bundle.get("link") or [] if not (isinstance(x, dict) and x.get("relation") == "next")]
    return {**bundle, "link": links}


def _is_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def _error_outcome(resource: Any) -> bool:
    issues = resource.get("issue") if _is_outcome(resource) else None
    return isinstance(issues, list) and any(
        isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues
    )


def _failed(value: Any) -> bool:
    """The client hit an error fetching it: a bare OperationOutcome, or a Bundle with an error outcome."""
    if _is_outcome(value):
        return True
    entries = (
        value.get("entry") if isinstance(value, dict) and value.get("resourceType") == "Bundle" else None
    )
    return isinstance(entries, list) and any(
        isinstance(e, dict) and _error_outcome(e.get("resource")) for e in entries
    )


@dataclass
class AdapterInput:
    """Arguments for `ldncds.fhir.facts_from_resources`, and where each piece came from (for error paths)."""

    patient: dict[str, Any] | None
    sections: dict[str, Any]
    origins: dict[str, list[str]]
    patient_origin: str
    medications_incomplete: bool

    def locate(self, path: str) -> str:
        """An adapter path ('medications[1].entry[0]') as a path in the request ('prefetch.x.entry[0]')."""
        match = _PIECE.match(path)
        if match and match[1] in self.origins and int(match[2]) < len(self.origins[match[1]]):
            return self.origins[match[1]][int(match[2])] + match[3]
        if path.startswith("patient"):
            return self.patient_origin + path[len("patient") :]
        return path


_PIECE = re.compile(r"^(\w+)\[(\d+)\](.*)$")


@dataclass
class Gathered:
    """What could be had for each prefetch key; `values[key]` is a value, None or MISSING."""

    values: dict[str, Any] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    def missing(self, keys: list[str]) -> list[str]:
        """Keys with nothing usable: absent and not fetched, or only an OperationOutcome (an error)."""
        return [k for k in keys if self.values.get(k, MISSING) is MISSING or _is_outcome(self.values[k])]

    def _pieces(self, key: str) -> tuple[list[Any], list[str]]:
        value = self.values.get(key)
        if value is None or value is MISSING:
            return [], []
        if key in self.fetched:
            return list(value), [f"fetched.{key}[{i}]" for i in range(len(value))]
        return [value], [f"prefetch.{key}"]

    def adapter_input(self) -> AdapterInput:
        sections: dict[str, Any] = {}
        origins: dict[str, list[str]] = {}
        for key in PREFETCH_KEYS:
            if key.section == "patient" or self.values.get(key.key, MISSING) is MISSING:
                continue
            pieces, labels = self._pieces(key.key)
            sections[key.section] = sections.get(key.section, []) + pieces
            origins[key.section] = origins.get(key.section, []) + labels
        if self.values.get("medications", MISSING) is MISSING:
            sections.pop("medications", None)  # statements alone are not a medication list
            origins.pop("medications", None)
        patient = self.values.get("patient", MISSING)
        return AdapterInput(
            patient=None if patient is MISSING else patient,
            sections=sections,
            origins=origins,
            patient_origin="fetched.patient" if "patient" in self.fetched else "prefetch.patient",
            # Without the statements the list may lack an opioid the patient reports taking.
            medications_incomplete="medications" in sections
            and self.values.get("medicationStatements", MISSING) is MISSING,
        )


async def gather(
    prefetch: Mapping[str, Any] | None,
    context: Mapping[str, Any],
    fetcher: FhirFetcher | None,
    keys: tuple[PrefetchKey, ...] = PREFETCH_KEYS,
) -> Gathered:
    """Take each key from the prefetch when present (null included), else fetch it, else MISSING."""
    prefetch = prefetch or {}
    out = Gathered()
    to_fetch: list[tuple[PrefetchKey, str]] = []
    for key in keys:
        if key.key in prefetch and not (fetcher and _failed(prefetch[key.key])):
            out.values[key.key] = prefetch[key.key]  # a failed prefetch is refetched when we can
            continue
        relative = render(key.template, context) if fetcher else None
        if relative is None:
            out.values[key.key] = MISSING
        else:
            to_fetch.append((key, relative))
    if to_fetch and fetcher:
        results = await asyncio.gather(*(fetcher.get(key, relative) for key, relative in to_fetch))
        for (key, _), value in zip(to_fetch, results, strict=True):
            out.values[key.key] = value
            if value is not MISSING:
                out.fetched.append(key.key)
    return out


__all__ = ["PREFETCH_KEYS", "TEMPLATES", "FhirFetcher", "Gathered", "gather", "render"]
