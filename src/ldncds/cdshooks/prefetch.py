"""Prefetch templates, and getting each datum from the prefetch or else from the EHR's FHIR server.

Per CDS Hooks 2.0.1 section 4.3: a key present with `null` means "looked, found nothing"; an absent key
is fetched from `fhirServer` with the `fhirAuthorization` token when there is one, and is otherwise
unknown (MISSING). Search filters in the templates are a courtesy to the EHR: the FHIR adapter
re-checks every status, so a client that ignores them cannot change the answer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ldncds.engine import DataNote
from ldncds.fhir import MISSING
from ldncds.fhir.references import reference_id

if TYPE_CHECKING:  # imported where a fetch happens: engine workers read this module, never fetch
    import httpx

log = logging.getLogger("ldncds.fhir.fetch")

PATIENT = "{{context.patientId}}"


@dataclass(frozen=True)
class PrefetchKey:
    key: str
    template: str
    section: str  # "patient" or a section of ldncds.fhir.facts_from_resources
    is_read: bool = False
    # The section's own key: when it fails the section is unknown. Another key feeding the same
    # section (statements, dispenses, ...) that fails or is absent leaves the section usable, named.
    primary: bool = False
    label: str = ""


def _search(rtype: str, query: str = "") -> str:
    return f"{rtype}?patient={PATIENT}{query}"


def _with_medication(rtype: str) -> str:
    # _include brings the Medication a medicationReference points to into the same Bundle.
    return _search(rtype, f"&_include={rtype}:medication")


# No status filter on medications: the washout rules need opioids that stopped recently. No code or
# category filter on observations: a positive opiate screen may sit in a panel's component or lack a
# category; newest first, so the page limit drops only the oldest. Required (412 when unavailable)
# is what US Core guarantees: Patient, Condition, MedicationRequest, AllergyIntolerance.
PREFETCH_KEYS: tuple[PrefetchKey, ...] = (
    PrefetchKey("patient", f"Patient/{PATIENT}", "patient", is_read=True, primary=True, label="Patient"),
    PrefetchKey("conditions", _search("Condition"), "conditions", primary=True, label="Condition"),
    PrefetchKey(
        "medications",
        _with_medication("MedicationRequest"),
        "medications",
        primary=True,
        label="MedicationRequest",
    ),  # fmt: skip
    PrefetchKey(
        "medicationStatements",
        _with_medication("MedicationStatement"),
        "medications",
        label="MedicationStatement",
    ),  # fmt: skip
    PrefetchKey(
        "medicationDispenses",
        _with_medication("MedicationDispense"),
        "medications",
        label="MedicationDispense",
    ),  # fmt: skip
    PrefetchKey(
        "medicationAdministrations",
        _with_medication("MedicationAdministration"),
        "medications",
        label="MedicationAdministration",
    ),  # fmt: skip
    PrefetchKey("procedures", _search("Procedure"), "procedures", primary=True, label="Procedure"),
    PrefetchKey(
        "serviceRequests",
        _search("ServiceRequest", "&status=active,draft"),
        "procedures",
        label="ServiceRequest (planned procedures)",
    ),  # fmt: skip
    PrefetchKey(
        "appointments",
        _search("Appointment", "&status=booked,pending"),
        "procedures",
        label="Appointment (planned procedures)",
    ),  # fmt: skip
    PrefetchKey(
        "allergies", _search("AllergyIntolerance"), "allergies", primary=True, label="AllergyIntolerance"
    ),
    PrefetchKey(
        "observations",
        _search("Observation", "&_sort=-date&_count=100"),
        "observations",
        primary=True,
        label="Observation",
    ),  # fmt: skip
)
TEMPLATES: dict[str, str] = {k.key: k.template for k in PREFETCH_KEYS}
REQUIRED_KEYS: tuple[str, ...] = ("patient", "conditions", "medications", "allergies")
# Medications referenced but neither included nor contained, read one by one from fhirServer.
RESOLVED_MEDICATIONS = "medicationReferences"
_MAX_MEDICATION_READS = 50
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


def _has_next(value: Any) -> bool:
    links = value.get("link") if isinstance(value, dict) and value.get("resourceType") == "Bundle" else None
    return isinstance(links, list) and any(isinstance(x, dict) and x.get("relation") == "next" for x in links)


@dataclass
class AdapterInput:
    """Arguments for `ldncds.fhir.facts_from_resources`, where each piece came from (for error paths),
    and the notes on keys that were absent or failed (named in the answer)."""

    patient: dict[str, Any] | None
    sections: dict[str, Any]
    origins: dict[str, list[str]]
    patient_origin: str
    notes: list[DataNote] = field(default_factory=list)

    def locate(self, path: str) -> str:
        """An adapter path ('medications[1].entry[0]') as a path in the request ('prefetch.x.entry[0]')."""
        match = _PIECE.match(path)
        if match and match[1] in self.origins and int(match[2]) < len(self.origins[match[1]]):
            return self.origins[match[1]][int(match[2])] + match[3]
        if path.startswith("patient"):
            return self.patient_origin + path[len("patient") :]
        return path


_PIECE = re.compile(r"^(\w+)\[(\d+)\](.*)$")
_BY_KEY = {k.key: k for k in PREFETCH_KEYS}


@dataclass(frozen=True)
class Fetched:
    """What the server read from fhirServer, as a change to the request's own prefetch: the value of
    every key that differs from it (fetched, completed pages, MISSING) and the keys fetched. With the
    raw request it rebuilds the Gathered in an engine worker, so the prefetch is never sent twice."""

    values: dict[str, Any]
    fetched: tuple[str, ...]


@dataclass
class Gathered:
    """What could be had for each prefetch key; `values[key]` is a value, None or MISSING."""

    values: dict[str, Any] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    @classmethod
    def over(cls, prefetch: Mapping[str, Any], change: Fetched | None = None) -> Gathered:
        """The prefetch as `gather` takes it, with what was fetched: `over(p)` is `gather(p, ctx, None)`."""
        values = {key.key: prefetch.get(key.key, MISSING) for key in PREFETCH_KEYS}
        if change is None:
            return cls(values)
        return cls(values | change.values, list(change.fetched))

    def change_to(self, prefetch: Mapping[str, Any]) -> Fetched:
        """What this holds beyond `prefetch` (the inverse of `over`)."""
        values = {k: v for k, v in self.values.items() if prefetch.get(k, MISSING) is not v}
        return Fetched(values, tuple(self.fetched))

    def missing(self, keys: list[str] | tuple[str, ...]) -> list[str]:
        """Keys with nothing usable: absent and not fetched, or only an OperationOutcome (an error)."""
        return [k for k in keys if self.values.get(k, MISSING) is MISSING or _is_outcome(self.values[k])]

    def _origin(self, key: str) -> str:
        return f"fetched.{key}" if key in self.fetched else f"prefetch.{key}"

    def adapter_input(self) -> AdapterInput:
        sections: dict[str, Any] = {}
        origins: dict[str, list[str]] = {}
        notes: list[DataNote] = []
        for key in PREFETCH_KEYS:
            value = self.values.get(key.key, MISSING)
            if key.section == "patient":
                continue
            if not key.primary and (value is MISSING or _failed(value)):
                notes.append(_key_note(key, value))
                continue  # the section stays usable without this part, and the answer says so
            if value is MISSING:
                if key.key not in REQUIRED_KEYS:
                    notes.append(_key_note(key, value))
                continue
            sections[key.section] = [*sections.get(key.section, []), *([] if value is None else [value])]
            origins[key.section] = [
                *origins.get(key.section, []),
                *([] if value is None else [self._origin(key.key)]),
            ]
        if (resolved := self.values.get(RESOLVED_MEDICATIONS)) and "medications" in sections:
            sections["medications"].append(resolved)
            origins["medications"].append(f"fetched.{RESOLVED_MEDICATIONS}")
        patient = self.values.get("patient", MISSING)
        return AdapterInput(
            patient=None if patient is MISSING else patient,
            sections=sections,
            origins=origins,
            patient_origin=self._origin("patient"),
            notes=notes,
        )


def _key_note(key: PrefetchKey, value: Any) -> DataNote:
    if value is MISSING:
        reason = f"{key.label} records were not supplied (prefetch key {key.key}) and could not be fetched"
    else:
        reason = f"the EHR answered the {key.label} search with an error (prefetch key {key.key})"
    section = key.section if key.section != "patient" else None
    return DataNote(source=f"prefetch.{key.key}", section=section, reason=reason, severity="caveat")  # type: ignore[arg-type]


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
        if key.key in prefetch and not (fetcher and _failed(value)):
            out.values[key.key] = value  # a failed prefetch is refetched when we can
            if fetcher and _has_next(value):
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


__all__ = [
    "PREFETCH_KEYS",
    "REQUIRED_KEYS",
    "TEMPLATES",
    "FetchLimits",
    "FhirFetcher",
    "Fetched",
    "Gathered",
    "fhir_server_allowed",
    "gather",
    "render",
]
