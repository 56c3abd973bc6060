"""Turn PatientFacts into flat engine facts the rules can test.

This is normalisation, not clinical policy: dates become day counts relative to the evaluation
date, codes become value-set memberships, statuses become a small vocabulary. Every threshold and
every code list stays in rules/. Fields whose value is unknown are left out, and a missing field
never matches a test, so "unknown" can never pass for "false".

This module is the only reader of PatientFacts (tests/engine/test_derive_only_reader.py): what the
rest of the engine needs from the patient's records (the follow-up's result series, the results a
reminder counts as done, the data notes) is computed here into `Derived`, once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple, cast

from . import facts as _facts
from .assessment import FactCitation
from .codes import canonical_system
from .facts import (
    Allergy,
    Coding,
    Condition,
    DataNote,
    Medication,
    Observation,
    PatientFacts,
    Procedure,
)
from .loader import ValueSets
from .units import canonical
from .vocabulary import INSTRUMENT_PREFIX, SCALE_ENDS

SECTIONS = ("conditions", "medications", "procedures", "allergies", "observations")
_CURRENT = {"active", "recurrence", "relapse"}
_NOT_CURRENT = {"inactive", "remission", "resolved"}
_EXPOSURE = {
    "active": "current",
    "on-hold": "current",
    "completed": "ended",
    "stopped": "ended",
    "cancelled": "none",
    "not-taken": "none",
    "draft": "planned",
    "intended": "planned",
    "unknown": "unknown",
}
_PROCEDURE_STATE = {
    "completed": "done",
    "in-progress": "done",
    "stopped": "done",
    "preparation": "planned",
    "on-hold": "planned",
    "not-done": "not_done",
    "unknown": "unknown",
}
_USABLE_OBSERVATION = {"final", "amended", "corrected"}
# A record's dates are read many times over (onset, durations, windows) and repeat across patients:
# parse each partial date once per process. A date is immutable; a malformed one is never cached.
earliest = lru_cache(maxsize=16384)(_facts.earliest)
latest = lru_cache(maxsize=16384)(_facts.latest)


@dataclass(frozen=True)
class FactRef:
    """What an explanation says about one fact: where it came from and what it was."""

    id: str
    kind: str
    source: str
    display: str
    date: str | None = None
    detail: str | None = None
    end_date: str | None = None
    event_date: str | None = None

    def cite(self) -> FactCitation:
        return FactCitation(
            source=self.source, kind=self.kind, display=self.display, date=self.date, detail=self.detail
        )


class Result(NamedTuple):
    """One usable observation result in a value set, dated on or before the evaluation date."""

    date: date
    value: float | None
    source: str


class Point(NamedTuple):
    """One numeric result of an outcome instrument."""

    date: date
    value: float
    source: str


@dataclass(frozen=True)
class Derived:
    """Everything the engine knows about the patient, read from PatientFacts by `derive` alone.

    `facts` and `refs` are what the rules match and explanations cite; `results` holds, per value set,
    the usable results up to the evaluation date (oldest first) for the follow-up and the reminders;
    `notes` are the records that could not be read (or were read with a caveat), named in every answer.
    """

    facts: list[dict[str, Any]] = field(default_factory=list)
    refs: dict[str, FactRef] = field(default_factory=dict)
    results: Mapping[str, tuple[Result, ...]] = field(default_factory=lambda: MappingProxyType({}))
    notes: tuple[DataNote, ...] = ()

    def add(self, fact: dict[str, Any], ref: FactRef) -> None:
        self.facts.append({k: v for k, v in fact.items() if v is not None})
        self.refs[ref.id] = ref

    def results_in(self, value_set: str) -> tuple[Result, ...]:
        """Usable results in a value set up to the evaluation date, oldest first."""
        return self.results.get(value_set, ())

    def series(self, instrument: str) -> list[Point]:
        """Numeric results of one outcome instrument, oldest first."""
        return [Point(r.date, r.value, r.source) for r in self.results_in(instrument) if r.value is not None]


def derive(facts: PatientFacts, on: date, valuesets: ValueSets) -> Derived:
    observations = _observation_rows(facts.observations or (), on, valuesets)
    out = Derived(results=_results(observations, on), notes=tuple(facts.notes))
    _patient(out, facts, on)
    _records(out, facts)
    for i, c in enumerate(facts.conditions or ()):
        _condition(out, f"c{i}", c, on, valuesets)
    for i, m in enumerate(facts.medications or ()):
        _medication(out, f"m{i}", m, on, valuesets)
    for i, p in enumerate(facts.procedures or ()):
        _procedure(out, f"p{i}", p, on, valuesets)
    for i, a in enumerate(facts.allergies or ()):
        _allergy(out, f"a{i}", a, valuesets)
    _observations(out, observations, on, valuesets)
    if course := therapy_course(facts.medications or (), on, valuesets):
        _therapy(out, course, on)
        for instrument in sorted(n for n in valuesets.names if n.startswith(INSTRUMENT_PREFIX)):
            _response(out, instrument, course, on, valuesets)
    return out


def _records(out: Derived, facts: PatientFacts) -> None:
    """One fact per section: was it supplied at all, and is it known to be complete?"""
    incomplete = _incomplete(facts)
    for section in SECTIONS:
        items = getattr(facts, section)
        out.add(
            {
                "kind": "record",
                "id": f"record:{section}",
                "section": section,
                "available": items is not None,
                "complete": items is not None and section not in incomplete,
            },
            FactRef(
                f"record:{section}", "record", f"{facts.source} ({section})", _section_label(section, items)
            ),
        )


def _incomplete(facts: PatientFacts) -> set[str]:
    """Sections that may be partial: those said so, and every section a record could not be read from.

    The facts contract, whoever built the facts: an unreadable record leaves its section incomplete,
    so the rules treat that section as partial, never as complete.
    """
    unread = {n.section for n in facts.notes if n.severity == "unreadable" and n.section}
    return set(facts.incomplete) | unread


BASELINE_WINDOW_DAYS = "baseline_window_days"  # ruleset parameter: how recent a baseline must be
COURSE_GAP_DAYS = "course_gap_days"  # ruleset parameter: orders closer than this are one course


@dataclass(frozen=True)
class Course:
    """The patient's naltrexone course: what is taken now, since when, at what dose."""

    current: Medication | None
    start: date
    dose_start: date | None
    daily_dose_mg: float | None
    ended: date | None


def _began(m: Medication) -> date:
    """First day of an order already known to have a start (therapy_course keeps only those)."""
    return earliest(cast(str, m.start))


def therapy_course(medications: Sequence[Medication], on: date, valuesets: ValueSets) -> Course | None:
    taken = _naltrexone_taken(medications, on, valuesets)
    if not taken:
        return None
    current = [m for m in taken if _current(m, on)]
    if not current:
        return _stopped_course(taken)
    newest = max(current, key=_began)  # the order with today's dose
    start = _course_start(newest, taken, valuesets)
    doses = [m.daily_dose_mg for m in current if m.daily_dose_mg is not None]
    return Course(newest, start, _began(newest), max(doses) if doses else None, None)


def _naltrexone_taken(medications: Sequence[Medication], on: date, valuesets: ValueSets) -> list[Medication]:
    return [m for m in medications if _taken(m, on) and _is_naltrexone(m, valuesets)]


def _taken(m: Medication, on: date) -> bool:
    """Begun by the evaluation date and taken (now or in the past): not planned, cancelled or in error."""
    exposure = _EXPOSURE.get(m.status or "unknown")
    return m.start is not None and exposure in ("current", "ended") and _began(m) <= on


def _stopped_course(taken: list[Medication]) -> Course:
    ends = [latest(m.end) for m in taken if m.end]
    return Course(None, min(_began(m) for m in taken), None, None, max(ends) if ends else None)


def _course_start(newest: Medication, taken: list[Medication], valuesets: ValueSets) -> date:
    """Walk back through earlier orders while the gaps are short: one continuous course."""
    start = _began(newest)
    for m in sorted(taken, key=_began, reverse=True):
        if (
            _began(m) < start
            and m.end
            and (start - latest(m.end)).days <= valuesets.parameter(COURSE_GAP_DAYS)
        ):
            start = _began(m)
    return start


def _is_naltrexone(m: Medication, valuesets: ValueSets) -> bool:
    names = set(memberships(m.codes, valuesets))
    for text in [m.text, *(c.display for c in m.codes)]:
        if text:
            names |= valuesets.of_text(text)
    return "naltrexone" in names and "opioid_agonists" not in names  # morphine/naltrexone is an opioid


def _current(m: Medication, on: date) -> bool:
    exposure = _EXPOSURE.get(m.status or "unknown")
    return exposure == "current" or (exposure == "ended" and m.end is not None and latest(m.end) > on)


def _therapy(out: Derived, course: Course, on: date) -> None:
    if course.current is None:
        out.add(
            {
                "kind": "therapy",
                "id": "therapy",
                "status": "stopped",
                "days_since_end": (on - course.ended).days if course.ended else None,
            },
            FactRef(
                "therapy",
                "therapy",
                "naltrexone course",
                "naltrexone (stopped)",
                course.start.isoformat(),
                f"ended {course.ended.isoformat() if course.ended else 'on an unrecorded date'}",
            ),
        )
        return
    dose = f"{course.daily_dose_mg:g} mg/day" if course.daily_dose_mg is not None else "dose not recorded"
    out.add(
        {
            "kind": "therapy",
            "id": "therapy",
            "status": "current",
            "daily_dose_mg": course.daily_dose_mg,
            "days_on_therapy": (on - course.start).days,
            "days_at_current_dose": (on - course.dose_start).days if course.dose_start else None,
        },
        FactRef(
            "therapy",
            "therapy",
            course.current.source,
            _display(course.current.codes, course.current.text),
            course.start.isoformat(),
            f"{dose}; course started {course.start.isoformat()}",
        ),
    )


def _response(out: Derived, instrument: str, course: Course, on: date, valuesets: ValueSets) -> None:
    if course.current is None:
        return
    series = out.series(instrument)
    if not series:
        return  # an instrument never used says nothing, not even "no baseline"
    window_days = valuesets.parameter(BASELINE_WINDOW_DAYS)
    window_start = course.start - timedelta(days=window_days)
    baseline = [p for p in series if window_start <= p[0] <= course.start]
    followup = [p for p in series if p[0] > course.start]
    fact: dict[str, Any] = {
        "kind": "response",
        "id": f"response:{instrument}",
        "instrument": instrument,
        "baseline_known": bool(baseline),
        "followup_known": bool(followup),
        "days_on_therapy": (on - course.start).days,
        "days_at_current_dose": (on - course.dose_start).days if course.dose_start else None,
        "daily_dose_mg": course.daily_dose_mg,
    }
    detail = f"no baseline in the {window_days:g} days before the first dose"
    if baseline:
        fact["baseline_value"] = baseline[-1][1]
    if baseline and followup:
        base, last = baseline[-1][1], followup[-1][1]
        fact["change_abs"] = round(last - base, 2)
        fact["change_pct"] = round(100 * (last - base) / base, 1) if base else None
        detail = f"baseline {base:g} ({baseline[-1][0]}), latest {last:g} ({followup[-1][0]})"
    elif baseline:
        detail = f"baseline {baseline[-1][1]:g} ({baseline[-1][0]}), no result since the start"
    source = (followup or baseline or series)[-1][2]
    out.add(
        fact,
        FactRef(
            f"response:{instrument}",
            "response",
            source,
            instrument.removeprefix(INSTRUMENT_PREFIX),
            (followup or baseline or series)[-1][0].isoformat(),
            detail,
        ),
    )


def _section_label(section: str, items: list[Any] | None) -> str:
    if items is None:
        return f"{section}: not available"
    return f"{section}: {len(items)} record(s)"


def _days(on: date, value: str | None, *, bound: str) -> int | None:
    """Whole days from a (partial) date to the evaluation date, using the bound that is conservative."""
    if value is None:
        return None
    day = latest(value) if bound == "latest" else earliest(value)
    return (on - day).days


def _patient(out: Derived, facts: PatientFacts, on: date) -> None:
    age_min = age_max = None
    if facts.birth_date and earliest(facts.birth_date) <= on:
        age_min = _age(latest(facts.birth_date), on)
        age_max = _age(earliest(facts.birth_date), on)
    detail = f"born {facts.birth_date}" if facts.birth_date else "birth date not recorded"
    if facts.birth_date and age_min is None:
        detail += ", after the evaluation date: age unknown"
    death_after = facts.deceased_on is not None and not facts.died_by(on)
    if death_after:
        detail += f"; date of death recorded as {facts.deceased_on}, after the evaluation date"
    out.add(
        {
            "kind": "patient",
            "id": "patient",
            "age_min": age_min,
            "age_max": age_max,
            "sex": facts.sex,
            "birth_date_known": age_min is not None,
            "death_date_after_evaluation": death_after,
        },
        FactRef("patient", "patient", facts.source, _age_label(age_min, age_max), facts.birth_date, detail),
    )


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _age_label(age_min: int | None, age_max: int | None) -> str:
    if age_min is None:
        return "age unknown"
    return f"age {age_min}" if age_min == age_max else f"age {age_min}-{age_max}"


def memberships(codes: list[Coding], valuesets: ValueSets) -> list[str]:
    """The value sets any of the codes is in."""
    found: set[str] = set()
    for coding in codes:
        system = canonical_system(coding.system)
        if system:
            found |= valuesets.of_code(system, coding.code)
    return sorted(found)


def _display(codes: list[Coding], text: str | None) -> str:
    if text:
        return text
    for coding in codes:
        if coding.display:
            return coding.display
    if codes:
        return f"{codes[0].system} {codes[0].code}"
    return "(no name recorded)"


def _code_label(codes: list[Coding]) -> str | None:
    parts = [f"{canonical_system(c.system) or c.system} {c.code}" for c in codes]
    return ", ".join(parts) or None


def _condition(out: Derived, fid: str, c: Condition, on: date, valuesets: ValueSets) -> None:
    if c.verification_status in {"refuted", "entered-in-error"}:
        return
    onset = _known_by(c.onset, on)  # a future onset is no evidence
    recorded = _known_by(c.recorded_date, on)
    # ... and it contradicts the record: its recorded date then vouches for no duration either.
    future_onset = c.onset if c.onset and onset is None else None
    # Begun after it was entered: one of the dates is wrong. The duration counts from the onset.
    onset_after_recorded = bool(onset and recorded and earliest(onset) > latest(recorded))
    basis, dmin, dmax = _duration(on, onset, None if future_onset else recorded)
    verification = "confirmed" if c.verification_status == "confirmed" else "possible"
    clinical = _clinical(c, on)
    clinical_text: str = c.clinical_status or "status not recorded"
    if clinical == "contradictory":
        clinical_text += f" but abated {c.abatement or '(no date)'}: contradictory"
    status = f"{clinical_text}, {c.verification_status or 'verification not recorded'}"
    dated = _dated(onset, recorded, future_onset, onset_after_recorded)
    out.add(
        {
            "kind": "condition",
            "id": fid,
            "value_sets": memberships(c.codes, valuesets),
            "clinical": clinical,
            "verification": verification,
            "duration_days_min": dmin,
            "duration_days_max": dmax,
            "duration_basis": basis,
            "days_since_recorded": _days_since_recorded(on, onset, recorded),
            "onset_after_recorded": onset_after_recorded,
        },
        FactRef(
            fid,
            "condition",
            c.source,
            _display(c.codes, c.text),
            onset or recorded,
            f"{_code_label(c.codes) or 'uncoded'}; {status}; {dated}",
        ),
    )


def _abated_by(c: Condition, on: date) -> bool:
    """Has the recorded abatement happened by the evaluation date? An undated one may have."""
    if c.abatement:
        return earliest(c.abatement) <= on
    return c.abated


def _clinical(c: Condition, on: date) -> str:
    """current, not_current, unknown, or contradictory: an active status beside a past abatement
    (R4 invariant con-4 broken). The rules read a contradictory record as current when it may
    block and as unknown when it would qualify."""
    abated = _abated_by(c, on)
    if c.clinical_status in _CURRENT:
        return "contradictory" if abated else "current"
    if c.clinical_status in _NOT_CURRENT or abated:
        return "not_current"
    return "unknown"


def _known_by(value: str | None, on: date) -> str | None:
    """A (partial) date that may already have passed on the evaluation date, else None."""
    return value if value and earliest(value) <= on else None


def _duration(on: date, onset: str | None, recorded: str | None) -> tuple[str, int | None, int | None]:
    """How long the condition has lasted at least and at most, and what that is counted from."""
    if onset:
        return "onset", max(0, _days(on, onset, bound="latest") or 0), _days(on, onset, bound="earliest")
    if recorded:
        return "recorded", max(0, _days(on, recorded, bound="latest") or 0), None
    return "none", None, None


def _dated(
    onset: str | None,
    recorded: str | None,
    future_onset: str | None = None,
    onset_after_recorded: bool = False,
) -> str:
    if future_onset:
        return f"onset {future_onset}, after the evaluation date" + (
            f"; recorded {recorded}" if recorded else ""
        )
    if onset_after_recorded:
        return f"onset {onset}, after its recorded date {recorded}"
    if onset:
        return f"onset {onset}"
    return f"recorded {recorded}" if recorded else "no onset or recorded date"


def _days_since_recorded(on: date, onset: str | None, recorded: str | None) -> int | None:
    """Days since the most recent date on the record (a status-less entry is as fresh as its last date)."""
    days = [d for d in (_days(on, v, bound="latest") for v in (onset, recorded)) if d is not None]
    return max(0, min(days)) if days else None


def _identified(m: Medication, coded: list[str], text_sets: set[str], texts: list[str]) -> bool:
    """Could the rules tell what this medication is?

    A value-set match always identifies it. Beyond that only RxNorm counts: the medication value
    sets are RxNorm lists, so an unrecognised RxNorm code is known not to be on them, while a SNOMED,
    NDC or unknown-system code could be anything (an opioid among them) unless its name matches a
    value set. A text-only entry is identified by its name (the text rules read it).
    """
    if coded or text_sets:
        return True
    if m.codes:
        return any(canonical_system(c.system) == "RxNorm" for c in m.codes)
    return bool(texts)


def _medication(out: Derived, fid: str, m: Medication, on: date, valuesets: ValueSets) -> None:
    # Entered-in-error entries are kept as facts (exposure entered_in_error) so that the rules can
    # list an opioid that was judged not to block; no rule treats them as use.
    exposure = _EXPOSURE.get(m.status or "unknown", "unknown")
    if m.status == "entered-in-error":
        exposure = "entered_in_error"
    # The exposure lasts as long as the supply could (refills): the washout counts from there.
    exposure_end = m.end_latest if m.end and m.end_latest and latest(m.end_latest) > latest(m.end) else m.end
    days_since_end = _days(on, exposure_end, bound="latest")
    if exposure == "ended" and days_since_end is not None and days_since_end < 0:
        exposure = "current"  # completed early on paper, but the supply runs past today
    coded = memberships(m.codes, valuesets)
    texts = [t for t in [m.text, *(c.display for c in m.codes)] if t]
    text_sets: set[str] = set()
    for t in texts:
        text_sets |= valuesets.of_text(t)
    detail = f"{_code_label(m.codes) or 'text only'}; status {m.status or 'not recorded'}"
    if m.start:
        detail += f"; started {m.start}"
    if m.end:
        detail += f"; ended {m.end}"
    if exposure_end != m.end:
        detail += f" (with its refills, supply could last until {exposure_end})"
    if _halted_on_unknown_day(m):
        halted = "put on hold" if m.status == "on-hold" else "stopped"
        detail += f"; {halted} on a day not recorded, so how long it was taken is unknown"
    if m.daily_dose_mg is not None:
        detail += f"; {m.daily_dose_mg:g} mg/day"
    out.add(
        {
            "kind": "medication",
            "id": fid,
            "value_sets": coded,
            "text_value_sets": sorted(text_sets),
            "identified": _identified(m, coded, text_sets, texts),
            "exposure": exposure,
            "is_order": m.is_order,
            "days_since_start": _days(on, m.start, bound="latest"),
            "days_since_end": days_since_end if exposure == "ended" else None,
            "daily_dose_mg": m.daily_dose_mg,
            "trial_days": _trial_days(m, exposure, on),
        },
        FactRef(
            fid,
            "medication",
            m.source,
            _display(m.codes, m.text),
            m.start,
            detail,
            end_date=latest(exposure_end).isoformat() if exposure_end else None,
        ),
    )


def _halted_on_unknown_day(m: Medication) -> bool:
    """A stopped order was halted before all its administrations, an on-hold one paused (R4
    MedicationRequest.status), on a day no element records: its supply, planned end or dispensed
    supply is only the most it lasted, and days on hold are no trial."""
    if m.status == "on-hold":
        return True
    return m.status == "stopped" and (m.record == "request" or m.end_basis in ("supply", "dispense"))


def _trial_days(m: Medication, exposure: str, on: date) -> int | None:
    """Days the medication has been taken up to the evaluation date: the shortest the dates allow.

    Counted from the latest day the start can denote to today (still taken) or to the earliest day
    the end can denote (stopped). Unknown (None) when the start, or the end of a stopped course, is
    not recorded (a stopped or on-hold order never records it), or the course starts in the future:
    an unknown length never counts as a trial.
    """
    if not m.start or exposure not in ("current", "ended") or _halted_on_unknown_day(m):
        return None
    if exposure == "current":
        stop = on
    elif m.end:
        stop = min(earliest(m.end), on)
    else:
        return None
    days = (stop - latest(m.start)).days
    return days if days >= 0 else None


def _procedure(out: Derived, fid: str, p: Procedure, on: date, valuesets: ValueSets) -> None:
    if p.status == "entered-in-error":
        return
    state = _PROCEDURE_STATE.get(p.status or "unknown", "unknown")
    days_since = _days(on, p.performed, bound="latest")
    until = _days(on, p.performed, bound="earliest") if p.performed and state == "planned" else None
    days_until = -until if until is not None else None
    out.add(
        {
            "kind": "procedure",
            "id": fid,
            "value_sets": sorted(
                set(memberships(p.codes, valuesets)) | set(memberships(p.category, valuesets))
            ),
            "state": state,
            "days_since": days_since if state == "done" else None,
            "days_until": days_until,
        },
        FactRef(
            fid,
            "procedure",
            p.source,
            _display(p.codes, p.text),
            p.performed,
            f"{_code_label(p.codes) or 'uncoded'}; status {p.status or 'not recorded'}",
            event_date=earliest(p.performed).isoformat() if p.performed and state == "planned" else None,
        ),
    )


def _allergy(out: Derived, fid: str, a: Allergy, valuesets: ValueSets) -> None:
    if a.verification_status in {"refuted", "entered-in-error"}:
        return
    texts = [t for t in [a.text, *(c.display for c in a.codes)] if t]
    text_sets: set[str] = set()
    for t in texts:
        text_sets |= valuesets.of_text(t)
    out.add(
        {
            "kind": "allergy",
            "id": fid,
            "value_sets": memberships(a.codes, valuesets),
            "text_value_sets": sorted(text_sets),
            "active": a.clinical_status not in {"inactive", "resolved"},
            "verification": a.verification_status or "unknown",
            "type": a.type or "unknown",
            "criticality": a.criticality or "unknown",
        },
        FactRef(
            fid,
            "allergy",
            a.source,
            _display(a.codes, a.text),
            None,
            f"{_code_label(a.codes) or 'text only'}; {a.clinical_status or 'status not recorded'}; "
            f"{a.type or 'type not recorded'}; criticality {a.criticality or 'not recorded'}",
        ),
    )


@dataclass(frozen=True)
class _ObservationRow:
    """An observation that is not cancelled or in error, with what every later step asks of it."""

    fid: str
    obs: Observation
    sets: list[str]
    usable: bool
    days_since: int | None
    value: float | None  # value_num in the canonical unit (engine.units): a bound when comparator
    unit: str | None
    off_scale: tuple[str, ...] = ()  # instrument value sets whose scale the value is outside

    @property
    def exact(self) -> float | None:
        """The value when it is exact (no comparator), else None."""
        return self.value if self.obs.value_comparator is None else None

    def bounds(self) -> dict[str, float]:
        """value_max / value_min for the rules: the value itself, or the bound a comparator gives."""
        if self.value is None:
            return {}
        if self.obs.value_comparator is None:
            return {"value_max": self.value, "value_min": self.value}
        return {"value_max" if self.obs.value_comparator in ("<", "<=") else "value_min": self.value}


def _observation_rows(
    observations: Iterable[Observation], on: date, valuesets: ValueSets
) -> list[_ObservationRow]:
    rows = []
    for i, o in enumerate(observations):
        if o.status in {"entered-in-error", "cancelled"}:
            continue
        sets = memberships(o.codes, valuesets)
        value, unit = canonical(o.value_num, o.value_unit)
        usable = o.status in _USABLE_OBSERVATION
        days_since = _days(on, o.effective, bound="latest")
        rows.append(
            _ObservationRow(
                f"o{i}", o, sets, usable, days_since, value, unit, _off_scale(sets, value, valuesets)
            )
        )
    return rows


def _off_scale(sets: list[str], value: float | None, valuesets: ValueSets) -> tuple[str, ...]:
    """The instruments this value cannot be a score of: outside the scale the ruleset gives."""
    if value is None:
        return ()
    off = []
    for vs in sets:
        if vs.startswith(INSTRUMENT_PREFIX):
            low, high = (valuesets.parameter(vs + end) for end in SCALE_ENDS)
            if not low <= value <= high:
                off.append(vs)
    return tuple(off)


def _results(rows: list[_ObservationRow], on: date) -> Mapping[str, tuple[Result, ...]]:
    """Per value set, the usable results dated up to the evaluation date, oldest first."""
    found: dict[str, list[Result]] = {}
    for row in rows:
        o = row.obs
        if not row.usable or not o.effective or latest(o.effective) > on:
            continue
        for vs in row.sets:
            if vs not in row.off_scale:  # an off-scale value is no score: no baseline, no follow-up
                found.setdefault(vs, []).append(Result(latest(o.effective), row.exact, o.source))
    return MappingProxyType(
        {vs: tuple(sorted(results, key=lambda r: (r.date, r.source))) for vs, results in found.items()}
    )


def _newest(rows: list[_ObservationRow], *, usable_only: bool = True) -> dict[str, str]:
    """Per value set, the fact id of its most recent usable result (the first of a day's ties);
    `usable_only=False`: of any status (a preliminary result newer than every final one)."""
    newest: dict[str, tuple[int, str]] = {}
    for row in rows:
        if (usable_only and not row.usable) or row.days_since is None or row.days_since < 0:
            continue
        for vs in row.sets:
            if vs not in newest or row.days_since < newest[vs][0]:
                newest[vs] = (row.days_since, row.fid)
    return {vs: fid for vs, (_, fid) in newest.items()}


def _negatives(rows: list[_ObservationRow], on: date) -> list[tuple[date, set[str]]]:
    """Usable negative results known by the evaluation date: earliest day each can denote, its sets."""
    return [
        (earliest(row.obs.effective), set(row.sets))
        for row in rows
        if row.usable
        and row.obs.result == "negative"
        and row.obs.effective
        and latest(row.obs.effective) <= on
    ]


def _later_negative(row: _ObservationRow, negatives: list[tuple[date, set[str]]]) -> bool:
    # Strictly later, judged on the conservative bounds of partial dates: a same-day negative
    # does not lift a positive (their order within the day is unknown).
    effective = row.obs.effective
    return bool(
        effective and any(day > latest(effective) and shared & set(row.sets) for day, shared in negatives)
    )


def _value_label(row: _ObservationRow) -> str | None:
    o = row.obs
    if o.result:
        return o.result
    if o.value_num is not None:
        shown = f"{o.value_comparator or ''}{o.value_num:g} {o.value_unit or ''}".strip()
        converted = row.value is not None and row.value != o.value_num
        return f"{shown} (= {row.value:g} {row.unit})" if converted else shown
    return o.value_text or _code_label(o.value_codes)


def _observations(out: Derived, rows: list[_ObservationRow], on: date, valuesets: ValueSets) -> None:
    newest = _newest(rows)
    newest_any = _newest(rows, usable_only=False)
    negatives = _negatives(rows, on)
    for row in rows:
        o = row.obs
        answers = memberships(o.value_codes, valuesets)
        bounds = row.bounds()
        out.add(
            {
                "kind": "observation",
                "id": row.fid,
                "value_sets": row.sets,
                "usable": row.usable,
                "days_since": row.days_since,
                "value_num": row.exact,
                **bounds,
                "value_unit": row.unit,
                "result": o.result,
                "answer_sets": answers,
                "value_read": bool(bounds) or o.result is not None or bool(answers),
                "latest_in": sorted(vs for vs in row.sets if newest.get(vs) == row.fid),
                "newest_in": sorted(vs for vs in row.sets if newest_any.get(vs) == row.fid),
                "later_negative": _later_negative(row, negatives),
                "off_scale_in": list(row.off_scale),
            },
            FactRef(
                row.fid,
                "observation",
                o.source,
                _display(o.codes, None),
                o.effective,
                f"{_code_label(o.codes) or 'uncoded'}; {_value_label(row) or 'no value'}; "
                f"status {o.status or 'not recorded'}",
            ),
        )
