"""Read published value sets into one shape: FHIR ValueSet JSON and XML (alone or in a Bundle),
the AHRQ pain-management-summary `{"Latest": [...]}` files, and CSV code lists.

Only what a file states is read: `expansion.contains` (nested too) and `compose.include.concept`
are codes; `compose.include.valueSet` is a reference resolved later by canonical URL; intensional
`compose.include.filter`s are never evaluated (a value set that has only filters and no expansion
is reported, not guessed at).
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FHIR_NS = "{http://hl7.org/fhir}"
VSAC_URL = "http://cts.nlm.nih.gov/fhir/ValueSet/"
_OID = re.compile(r"^[0-2](\.\d+)+$")


class SourceError(Exception):
    """A source file cannot be read as a value set; the message names the file and why."""


@dataclass(frozen=True)
class RawCode:
    system: str  # as written in the file (URI, OID or name); normalised by the importer
    code: str
    display: str | None


@dataclass
class SourceSet:
    """One value set as published."""

    file: Path
    url: str | None
    oid: str | None
    title: str
    version: str | None = None
    date: str | None = None
    kind: str = "fhir-valueset"
    codes: list[RawCode] = field(default_factory=list)
    excluded: list[RawCode] = field(default_factory=list)  # compose.exclude.concept
    includes: list[str] = field(default_factory=list)  # compose.include.valueSet canonical URLs
    filters: int = 0  # intensional compose filters not evaluated
    columns: list[dict[str, str]] = field(default_factory=list)  # CSV: each code's whole row
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.url or (f"{VSAC_URL}{self.oid}" if self.oid else self.file.as_posix())


def read_source(path: Path, *, system: str | None = None) -> list[SourceSet]:
    """Every value set in a file (a Bundle gives several); CSV needs `system` when it has no column."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return _json_sets(path, json.loads(path.read_text(encoding="utf-8")))
        if suffix == ".xml":
            return _xml_sets(path, ET.parse(path).getroot())
        if suffix == ".csv":
            return [_csv_set(path, system)]
    except (OSError, ValueError, ET.ParseError) as exc:
        raise SourceError(f"{path}: cannot read: {exc}") from exc
    except (KeyError, AttributeError, TypeError) as exc:  # JSON of the wrong shape: named, not a traceback
        raise SourceError(
            f"{path}: not a ValueSet this importer can read ({type(exc).__name__}: {exc})"
        ) from exc
    raise SourceError(f"{path}: not a .json, .xml or .csv file")


# ------------------------------------------------------------------ JSON


def _json_sets(path: Path, data: Any) -> list[SourceSet]:
    if isinstance(data, dict) and data.get("resourceType") == "ValueSet":
        return [_json_valueset(path, data)]
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        found = [
            _json_valueset(path, e["resource"])
            for e in data.get("entry") or []
            if isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == "ValueSet"
        ]
        if not found:
            raise SourceError(f"{path}: a Bundle without ValueSet entries")
        return found
    if isinstance(data, dict) and set(data) == {"Latest"} and isinstance(data["Latest"], list):
        return [_ahrq_set(path, data["Latest"])]
    kind = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
    raise SourceError(f"{path}: not a ValueSet, a Bundle of ValueSets or an AHRQ value-set list ({kind})")


def _oid_of(identifiers: list[dict[str, Any]], url: str | None) -> str | None:
    for ident in identifiers:
        value = str(ident.get("value") or "")
        if value.startswith("urn:oid:") and _OID.match(value[8:]):
            return value[8:]
    tail = (url or "").rstrip("/").rsplit("/", 1)[-1]
    return tail if _OID.match(tail) else None


def _json_valueset(path: Path, vs: dict[str, Any]) -> SourceSet:
    """One JSON ValueSet: codes from its expansion when it lists any, else from compose.include."""
    expansion = vs.get("expansion") or {}
    out = _json_identity(path, vs, expansion)
    contains = list(_contains(expansion.get("contains") or []))
    compose = vs.get("compose") or {}
    if contains:
        out.codes = contains  # the expansion is what the publisher computed: prefer it
    for inc in compose.get("include") or []:
        _add_json_include(out, inc, expanded=bool(contains))
    for exc in compose.get("exclude") or []:
        out.excluded += _json_concepts(exc)
    out.notes += _expansion_total_notes(expansion.get("total"), len(contains))
    return out


def _json_identity(path: Path, vs: dict[str, Any], expansion: dict[str, Any]) -> SourceSet:
    """The set's identity and edition, with no codes yet: a missing title falls back to the name,
    the canonical URL, then the file name; a missing date to the expansion's timestamp."""
    url = vs.get("url")
    return SourceSet(
        file=path,
        url=url,
        oid=_oid_of(vs.get("identifier") or [], url),
        title=vs.get("title") or vs.get("name") or url or path.stem,
        version=vs.get("version"),
        date=vs.get("date") or expansion.get("timestamp"),
    )


def _add_json_include(out: SourceSet, inc: dict[str, Any], *, expanded: bool) -> None:
    """One `compose.include`. With an expansion its concepts and filters are already computed into
    the expansion, so only without one are they read; its `valueSet` references are always kept
    (resolved later by canonical URL)."""
    if not expanded:
        out.codes += _json_concepts(inc)
    referenced = inc.get("valueSet") or []
    out.includes += [referenced] if isinstance(referenced, str) else list(referenced)  # one, not its letters
    if not expanded:
        out.filters += len(inc.get("filter") or [])


def _json_concepts(part: dict[str, Any]) -> list[RawCode]:
    """The codes a `compose.include` or `compose.exclude` lists by `concept` (its own system). FHIR
    requires each concept's code (unlike an expansion's groupers): a file without one is refused,
    never imported short of a code."""
    system, concepts = part.get("system"), part.get("concept") or []
    if concepts and (not isinstance(system, str) or not system):
        raise ValueError("compose concepts without a system")
    if any(not isinstance(c.get("code"), str) or not c["code"] for c in concepts):
        raise ValueError("a compose concept without a code")
    return [RawCode(system or "", c["code"], c.get("display")) for c in concepts]


def _expansion_total_notes(total: Any, listed: int) -> list[str]:
    """A note when `expansion.total` disagrees with the codes listed (published files do this):
    the listed codes are what is imported, so the count is reported, not trusted."""
    if listed and isinstance(total, int) and total != listed:
        return [f"expansion.total says {total} but lists {listed} codes (the list is used)"]
    return []


def _contains(items: list[dict[str, Any]]) -> list[RawCode]:
    out: list[RawCode] = []
    for item in items:
        if item.get("code") and not item.get("abstract"):
            out.append(RawCode(item.get("system", ""), str(item["code"]), item.get("display")))
        out += _contains(item.get("contains") or [])
    return out


def _ahrq_set(path: Path, items: list[dict[str, Any]]) -> SourceSet:
    """AHRQ CDS Connect valueset-db entries: the OID is the file name; no title, url or display."""
    oid = path.stem.removeprefix("valueset-")
    if not _OID.match(oid):
        raise SourceError(f"{path}: an AHRQ value-set list must be named after its OID")
    versions = sorted({f"{i.get('system', '')}|{i.get('version', '')}" for i in items if i.get("version")})
    return SourceSet(
        file=path,
        url=f"{VSAC_URL}{oid}",
        oid=oid,
        title=f"VSAC {oid} (AHRQ pain management summary)",
        version="Latest (" + "; ".join(v.rsplit("/", 1)[-1] for v in versions) + ")"
        if versions
        else "Latest",
        kind="ahrq-valueset-db",
        codes=[RawCode(i.get("system", ""), str(i["code"]), None) for i in items if i.get("code")],
    )


# ------------------------------------------------------------------ XML


def _attr(el: ET.Element | None, name: str) -> str | None:
    child = el.find(f"{FHIR_NS}{name}") if el is not None else None
    return child.get("value") if child is not None else None


def _xml_sets(path: Path, root: ET.Element) -> list[SourceSet]:
    if root.tag == f"{FHIR_NS}ValueSet":
        return [_xml_valueset(path, root)]
    if root.tag == f"{FHIR_NS}Bundle":
        found = [_xml_valueset(path, vs) for vs in root.iter(f"{FHIR_NS}ValueSet")]
        if not found:
            raise SourceError(f"{path}: a Bundle without ValueSet entries")
        return found
    raise SourceError(f"{path}: not a FHIR ValueSet or Bundle ({root.tag})")


def _xml_valueset(path: Path, vs: ET.Element) -> SourceSet:
    url = _attr(vs, "url")
    identifiers = [{"value": _attr(i, "value")} for i in vs.findall(f"{FHIR_NS}identifier")]
    expansion = vs.find(f"{FHIR_NS}expansion")
    out = SourceSet(
        file=path,
        url=url,
        oid=_oid_of(identifiers, url),
        title=_attr(vs, "title") or _attr(vs, "name") or url or path.stem,
        version=_attr(vs, "version"),
        date=_attr(vs, "date") or _attr(expansion, "timestamp"),
    )
    if expansion is not None:
        for c in expansion.iter(f"{FHIR_NS}contains"):
            if _attr(c, "code"):
                out.codes.append(
                    RawCode(_attr(c, "system") or "", _attr(c, "code") or "", _attr(c, "display"))
                )
    expanded = bool(out.codes)  # the expansion is what the publisher computed: prefer it
    compose = vs.find(f"{FHIR_NS}compose")
    for inc in compose.findall(f"{FHIR_NS}include") if compose is not None else []:
        if not expanded:
            out.codes += _xml_concepts(inc)
        out.includes += [v.get("value", "") for v in inc.findall(f"{FHIR_NS}valueSet")]
        out.filters += 0 if expanded else len(inc.findall(f"{FHIR_NS}filter"))
    for exc in compose.findall(f"{FHIR_NS}exclude") if compose is not None else []:
        out.excluded += _xml_concepts(exc)
    return out


def _xml_concepts(part: ET.Element) -> list[RawCode]:
    system = _attr(part, "system") or ""
    found = [
        RawCode(system, _attr(c, "code") or "", _attr(c, "display"))
        for c in part.findall(f"{FHIR_NS}concept")
    ]
    return [c for c in found if c.code]


# ------------------------------------------------------------------ CSV


def _csv_set(path: Path, system: str | None) -> SourceSet:
    """A CSV code list: `code` and `display` columns, `system` column or a system for every row.

    Other columns are kept for recipe filters (`where: {value_set: nsaids}`).
    """
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if rows and "code" not in rows[0]:
        raise SourceError(f"{path}: a CSV code list needs a 'code' column")
    if rows and "system" not in rows[0] and not system:
        raise SourceError(f"{path}: no 'system' column: give the code system (--system RxNorm)")
    out = SourceSet(file=path, url=None, oid=None, title=path.stem.replace("_", " "), kind="csv")
    out.columns = rows
    out.codes = [RawCode(r.get("system") or system or "", r["code"], r.get("display")) for r in rows]
    return out
