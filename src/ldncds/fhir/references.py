"""FHIR references: the one parser every reader uses (CDS Hooks, JSON API, screening, rules impact).

Forms seen in real records: relative (`Patient/p1`), versioned (`Patient/p1/_history/3`), absolute
(`https://ehr.example.org/fhir/Patient/p1`, also with `_history`), `urn:uuid:` (transaction bundles,
type unknown), contained (`#med1`) and conditional (`Patient?identifier=...`, a search, not a target).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


class Target(NamedTuple):
    """What a reference points to: (type, id); type None for urn:uuid; both None when unusable."""

    type: str | None
    id: str | None


NO_TARGET = Target(None, None)


def parse_reference(reference: Any) -> Target:
    """(type, id) of a literal reference; contained, conditional and malformed ones give (None, None)."""
    return _parse(reference) if isinstance(reference, str) else NO_TARGET


# A patient's records all name the same subject (and a population, the same few Medications).
@lru_cache(maxsize=8192)
def _parse(reference: str) -> Target:
    if not reference or "?" in reference or reference.startswith("#"):
        return NO_TARGET
    if reference.startswith("urn:uuid:"):
        rid = reference[9:]
        return Target(None, rid) if rid else NO_TARGET
    if reference.startswith("urn:"):
        return NO_TARGET
    parts = reference.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2 or not _TYPE.match(parts[-2]) or not _ID.match(parts[-1]):
        return NO_TARGET
    return Target(parts[-2], parts[-1])


def reference_id(reference: Any, wanted: str) -> str | None:
    """The id when the reference points to a resource of type `wanted` (urn:uuid: taken as that type)."""
    target = parse_reference(reference)
    if target.id is None or target.type not in (None, wanted) or not _ID.match(target.id):
        return None
    return target.id


def contained_id(reference: Any) -> str | None:
    """`med1` of a contained reference `#med1`."""
    if isinstance(reference, str) and reference.startswith("#") and len(reference) > 1:
        return reference[1:]
    return None
