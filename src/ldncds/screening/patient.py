"""One patient's export lines -> engine facts -> one screening row.

A resource that fails FHIR validation is dropped (and reported by file and line), its section is
marked incomplete, and the patient is still assessed. Because the current rules only act on an
incomplete *medication* list, a patient with any dropped resource is never reported as a candidate
here (fail safe): see `_partial_data_guard`. A patient the record says has died is never
listed for outreach: see `_deceased`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, Field

from ldncds.engine import (
    Assessment,
    Detail,
    Engine,
    EngineError,
    LoadedRuleset,
    PatientFacts,
    content_hash,
    default_rules_dir,
)
from ldncds.fhir import MISSING, SECTION_TYPES, FhirInputError, facts_from_resources
from ldncds.leanstart import young_collections_deferred

from . import facets
from .bulk import PATIENT_FIELDS, BadLine, RawLine, loads

Matcher = Literal["durable", "oracle"]  # oracle: the plain-Python floor, for benchmarks
SectionName = Literal["conditions", "medications", "procedures", "allergies", "observations"]
# The adapter's own table: one place knows which FHIR types feed which section.
SECTION_OF_TYPE: dict[str, SectionName] = {
    rtype: name for name, types in SECTION_TYPES.items() for rtype in types
} | {"Medication": "medications"}
SECTIONS: tuple[SectionName, ...] = ("conditions", "medications", "procedures", "allergies", "observations")
CANDIDATE_DECISIONS = frozenset({"candidate", "candidate_with_cautions"})
_PATH = re.compile(r"^(?P<section>[a-z]+)(?:\[(?P<i>\d+)\])?(?:\.entry\[(?P<e>\d+)\])?(?P<rest>.*)$")


class ScreeningRow(BaseModel):
    """One decision line per patient. The patient key is the product; names never appear."""

    patient: str = Field(description="Patient.id (or the id its resources refer to).")
    decision: str = Field(description="An engine decision, or 'error' when no advice could be given.")
    reason: str
    earliest_start: date | None = None
    unknown_criteria: list[str] = Field(default_factory=list)
    hard_stops: list[str] = Field(default_factory=list)
    cautions: list[str] = Field(default_factory=list)
    ruleset_version: str
    evaluation_date: date
    incomplete: list[str] = Field(
        default_factory=list, description="Sections where a resource could not be read and was dropped."
    )
    resources: int = Field(ge=0, description="Resources read for this patient (after dropping bad ones).")
    not_met_criteria: list[str] = Field(default_factory=list)
    pathways: list[str] = Field(default_factory=list, description="Pathways a met criterion established.")
    age_band: str = Field(default="unknown", description="Ten-year age band (display only), or unknown.")
    assessment_id: str | None = Field(default=None, description="Its record in the decision log (--record).")


@dataclass
class PatientOutcome:
    row: ScreeningRow
    bad: list[BadLine] = field(default_factory=list)
    # With keep=True: (facts, assessment, raw lines) for the decision log, when the row reports the
    # engine's own decision (never for an error, nor when the partial-data guard changed it).
    kept: tuple[PatientFacts, Assessment, bytes] | None = None


@dataclass
class _Prepared:
    """A patient mapped to facts (or the reason it could not be), before the engine runs."""

    key: str
    facts: PatientFacts | None
    resources: int
    bad: list[BadLine]
    dropped_sections: list[str]
    failure: str | None = None


# ---------------------------------------------------------------------------------------------------------
# Engine cache: one Engine per worker process, built once


_ENGINES: dict[tuple[str, Matcher], Engine] = {}


def engine_for(rules: LoadedRuleset | str | Path | None, matcher: Matcher = "durable") -> Engine:
    """The process-wide Engine for a ruleset or rules folder: compiled once per content hash.

    A folder is hashed on every call, so edited rule files get a new Engine. A LoadedRuleset (the
    one the screening run loaded and checked, shipped to each worker) is used as it is: its files
    are not read or validated again.
    """
    source: LoadedRuleset | Path
    if isinstance(rules, LoadedRuleset):
        source, digest = rules, rules.content_hash
    else:
        source = Path(rules or default_rules_dir()).resolve()
        digest = content_hash(source)
    if (digest, matcher) not in _ENGINES:
        _ENGINES[digest, matcher] = Engine(source, matcher=matcher)
    return _ENGINES[digest, matcher]


# ---------------------------------------------------------------------------------------------------------
# Mapping


def prepare(key: str, lines: list[RawLine], present_types: frozenset[str]) -> _Prepared:
    """Parse and map one patient's lines, dropping (and reporting) resources that fail validation."""
    bad: list[BadLine] = []
    items: list[tuple[RawLine, dict[str, Any]]] = []
    dropped: list[str] = []
    for raw in lines:
        try:
            resource = loads(raw.data)
        except ValueError:  # the index pass parsed it: only a file changed under us gets here
            bad.append(
                BadLine(file=raw.file, line=raw.line, reason="invalid JSON (file changed while screening?)")
            )
            dropped.append(SECTION_OF_TYPE.get(raw.file.split(".", 1)[0], "patient"))
            continue
        items.append((raw, resource))
    while True:
        patient_items, sections, where = _sections(items, present_types)
        try:
            result = facts_from_resources(_patient_value(patient_items), sections, patient_id=key)
        except FhirInputError as exc:
            culprit = _locate(exc.path, where)
            if culprit is None:  # cannot tell which resource: give no advice rather than guess
                return _Prepared(key, None, len(items), bad, dropped, "input could not be mapped")
            raw, resource = items.pop(culprit)
            bad.append(BadLine(file=raw.file, line=raw.line, reason=_validation_reason(resource, exc)))
            section = SECTION_OF_TYPE.get(resource.get("resourceType", ""), "patient")
            dropped.append(section)
            continue
        facts = result.facts
        incomplete = sorted(set(facts.incomplete) | {s for s in dropped if s in SECTIONS})
        if incomplete != sorted(facts.incomplete):
            facts = facts.model_copy(update={"incomplete": incomplete})
        return _Prepared(key, facts, len(items), bad, sorted(set(dropped)))


def _sections(
    items: list[tuple[RawLine, dict[str, Any]]], present_types: frozenset[str]
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[tuple[str, int], int]]:
    """Prefetch-style sections. A type absent from the whole export is MISSING (unknown), not none."""
    # Medication resources alone say nothing about use: only the patient-level types count.
    sections: dict[str, Any] = {name: MISSING for name in SECTIONS}
    for rtype in present_types & PATIENT_FIELDS.keys():
        sections[SECTION_OF_TYPE[rtype]] = []
    patients: list[dict[str, Any]] = []
    where: dict[tuple[str, int], int] = {}  # (section, position) -> index into items
    for i, (_raw, resource) in enumerate(items):
        kind = resource["resourceType"]  # a non-empty string: the index pass checked every line
        if kind == "Patient":
            where[("patient", len(patients))] = i
            patients.append(resource)
            continue
        name = SECTION_OF_TYPE[kind]  # its type's file exists (the index checks line against file)
        where[(name, len(sections[name]))] = i
        sections[name].append(resource)
    return patients, sections, where


def _patient_value(patients: list[dict[str, Any]]) -> dict[str, Any] | None:
    if len(patients) <= 1:
        return patients[0] if patients else None
    # Several lines for one patient (e.g. versions): the adapter keeps the newest.
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": p} for p in patients]}


def _locate(path: str, where: dict[tuple[str, int], int]) -> int | None:
    match = _PATH.match(path)
    if not match:
        return None
    section = match["section"]
    position = match["e"] if section == "patient" else match["i"]
    if section == "patient" and position is None:
        position = "0"
    return where.get((section, int(position))) if position is not None else None


def _validation_reason(resource: dict[str, Any], exc: FhirInputError) -> str:
    """Type, field and error, without ids (a Patient id must not reach a log) or values."""
    rtype = resource.get("resourceType", "resource")
    match = _PATH.match(exc.path)
    field_path = match["rest"].lstrip(".") if match else ""
    message = re.sub(r"^[A-Za-z]+/[^:\s]*: ", "", exc.message)
    at = f" at {field_path}" if field_path else ""
    return f"{rtype} failed FHIR validation{at}: {message}; resource dropped, section marked incomplete"


# ---------------------------------------------------------------------------------------------------------
# Assessing


def screen_lines(
    records: list[tuple[str, list[RawLine]]],
    engine: Engine,
    evaluation_date: date,
    present_types: frozenset[str],
    keep: bool = False,
) -> list[PatientOutcome]:
    """Screen a batch of patients with one engine, one patient at a time."""
    with young_collections_deferred():
        return [
            _screen_one(key, lines, engine, evaluation_date, present_types, keep) for key, lines in records
        ]


def _screen_one(
    key: str, lines: list[RawLine], engine: Engine, on: date, present_types: frozenset[str], keep: bool
) -> PatientOutcome:
    p = prepare_safely(key, lines, present_types)
    # A row needs the decision and what it turns on; the decision log keeps the full assessment.
    result = None if p.facts is None else _assess(engine, p.facts, on, "full" if keep else "decision")
    outcome = PatientOutcome(_row(p, result, engine, on), p.bad)
    # Kept for the log only when the row reports the engine's own decision (not an error or a guard).
    if (
        keep
        and isinstance(result, Assessment)
        and p.facts is not None
        and outcome.row.decision == result.decision
    ):
        outcome.kept = (p.facts, result, b"".join(line.data for line in lines))
    return outcome


def prepare_safely(key: str, lines: list[RawLine], present_types: frozenset[str]) -> _Prepared:
    try:
        return prepare(key, lines, present_types)
    except Exception as exc:  # one patient's surprise must not stop a population run
        return _Prepared(
            key, None, len(lines), [], [], f"internal error while mapping ({type(exc).__name__})"
        )


def _assess(engine: Engine, facts: PatientFacts, on: date, detail: Detail) -> Assessment | str:
    """The assessment, or a short error text: one patient's failure never stops the batch."""
    try:
        return engine.assess(facts, on, detail=detail)
    except EngineError as exc:
        return f"No advice: the rule engine failed ({exc})"
    except Exception as exc:
        return f"No advice: internal error ({type(exc).__name__})"


class _RowBase(TypedDict):
    """The row fields every patient has, assessed or not."""

    patient: str
    ruleset_version: str
    evaluation_date: date
    incomplete: list[str]
    resources: int
    age_band: str


def _row(p: _Prepared, result: Assessment | str | None, engine: Engine, on: date) -> ScreeningRow:
    base = _RowBase(
        patient=p.key,
        ruleset_version=engine.version,
        evaluation_date=on,
        incomplete=p.dropped_sections,
        resources=p.resources,
        age_band=facets.age_band(p.facts, on),
    )
    if not isinstance(result, Assessment):
        reason = result if isinstance(result, str) else f"No advice: {p.failure or 'not assessed'}"
        return ScreeningRow(decision="error", reason=reason, **base)
    decision, reason = _partial_data_guard(result, p.dropped_sections)
    if p.facts is not None and p.facts.died_by(on):
        decision, reason = _deceased(p.facts)
    return ScreeningRow(
        decision=decision,
        reason=reason,
        earliest_start=result.earliest_start,
        # Every required criterion still unknown, whether or not this decision turns on it: a
        # population manager asks what is missing across the charts (the ESI for N patients).
        unknown_criteria=[c.id for c in result.criteria if c.required and c.status == "unknown"],
        hard_stops=sorted({h.id for h in result.hard_stops}),
        cautions=sorted({c.id for c in result.cautions}),
        not_met_criteria=facets.not_met(result),
        pathways=facets.pathways(result),
        **base,
    )


def _deceased(facts: PatientFacts) -> tuple[str, str]:
    """A patient the record says has died is on no list for outreach, whatever the rules found.

    As in patient-view (no card): a date of death after the evaluation date, or one that may be,
    is a record to correct, and that patient is screened as living (CHECK-DEATH-DATE-01's note).
    """
    when = f" on {facts.deceased_on}" if facts.deceased_on else ""
    return "not_candidate", f"Not a candidate: the record says the patient died{when}; not for outreach."


def _partial_data_guard(result: Assessment, dropped: list[str]) -> tuple[str, str]:
    """Never call a patient a candidate when some of their records could not be read.

    The rules turn incomplete medication, condition and allergy lists into "unknown"; an unreadable
    procedure or observation could still hide a caution, so the screening keeps this second guard
    and refuses candidacy on any partial data.
    """
    if not dropped or result.decision not in CANDIDATE_DECISIONS:
        return result.decision, result.reason
    sections = ", ".join(dropped)
    return (
        "insufficient_information",
        f"Insufficient information: unreadable records dropped ({sections}); fix them and re-screen. "
        f"On the readable records alone: {result.reason}",
    )
