"""Turn PatientFacts into flat engine facts the rules can test.

This is normalisation, not clinical policy: dates become day counts relative to the evaluation
date, codes become value-set memberships, statuses become a small vocabulary. Every threshold and
every code list stays in rules/. Fields whose value is unknown are left out, and a missing field
never matches a test, so "unknown" can never pass for "false".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, cast

from .assessment import FactCitation
from .codes import canonical_system
from .facts import (
    Allergy,
    Coding,
    Condition,
    Medication,
    Observation,
    PatientFacts,
    Procedure,
    earliest,
    latest,
)
from .loader import ValueSets

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


@dataclass
class Derived:
    facts: list[dict[str, Any]] = field(default_factory=list)
    refs: dict[str, FactRef] = field(default_factory=dict)

    def add(self, fact: dict[str, Any], ref: FactRef) -> None:
        self.facts.append({k: v for k, v in fact.items() if v is not None})
        self.refs[ref.id] = ref


def derive(facts: PatientFacts, on: date, valuesets: ValueSets) -> Derived:
    out = Derived()
    _patient(out, facts, on)
    for section in SECTIONS:
        items = getattr(facts, section)
        out.add(
            {
                "kind": "record",
                "id": f"record:{section}",
                "section": section,
                "available": items is not None,
                "complete": items is not None and section not in facts.incomplete,
            },
            FactRef(
                f"record:{section}", "record", f"{facts.source} ({section})", _section_label(section, items)
            ),
        )
    for i, c in enumerate(facts.conditions or ()):
        _condition(out, f"c{i}", c, on, valuesets)
    for i, m in enumerate(facts.medications or ()):
        _medication(out, f"m{i}", m, on, valuesets)
    for i, p in enumerate(facts.procedures or ()):
        _procedure(out, f"p{i}", p, on, valuesets)
    for i, a in enumerate(facts.allergies or ()):
        _allergy(out, f"a{i}", a, valuesets)
    _observations(out, facts.observations or [], on, valuesets)
    if course := therapy_course(facts, on, valuesets):
        _therapy(out, course, on)
        for instrument in sorted(n for n in valuesets.names if n.startswith(INSTRUMENT_PREFIX)):
            _response(out, instrument, course, facts.observations or [], on, valuesets)
    return out


INSTRUMENT_PREFIX = "instrument_"
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


def therapy_course(facts: PatientFacts, on: date, valuesets: ValueSets) -> Course | None:
    meds = [
        m
        for m in facts.medications or ()
        if m.status != "entered-in-error" and m.start and _is_naltrexone(m, valuesets)
    ]
    taken = [
        m for m in meds if _EXPOSURE.get(m.status or "unknown") in ("current", "ended") and _began(m) <= on
    ]
    if not taken:
        return None
    current = [m for m in taken if _current(m, on)]
    if not current:
        ends = [latest(m.end) for m in taken if m.end]
        return Course(None, min(_began(m) for m in taken), None, None, max(ends) if ends else None)
    newest = max(current, key=lambda m: _began(m))  # the order with today's dose
    start = _began(newest)
    for m in sorted(taken, key=lambda m: _began(m), reverse=True):
        # Walk back through earlier orders while the gaps are short: one continuous course.
        if (
            _began(m) < start
            and m.end
            and (start - latest(m.end)).days <= valuesets.parameter(COURSE_GAP_DAYS)
        ):
            start = _began(m)
    doses = [m.daily_dose_mg for m in current if m.daily_dose_mg is not None]
    return Course(newest, start, _began(newest), max(doses) if doses else None, None)


def _is_naltrexone(m: Medication, valuesets: ValueSets) -> bool:
    names = set(_memberships(m.codes, valuesets))
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


def results_of(
    observations: list[Observation], value_set: str, on: date, valuesets: ValueSets
) -> list[tuple[date, float | None, str]]:
    """Usable results in a value set up to the evaluation date: (date, value, source), oldest first."""
    found = []
    for o in observations:
        if o.status not in _USABLE_OBSERVATION or not o.effective or latest(o.effective) > on:
            continue
        if value_set in _memberships(o.codes, valuesets):
            found.append((latest(o.effective), o.value_num, o.source))
    return sorted(found, key=lambda r: (r[0], r[2]))


def instrument_series(
    observations: list[Observation], instrument: str, on: date, valuesets: ValueSets
) -> list[tuple[date, float, str]]:
    """Numeric results of one outcome instrument, oldest first."""
    return [(d, v, s) for d, v, s in results_of(observations, instrument, on, valuesets) if v is not None]


def _response(
    out: Derived,
    instrument: str,
    course: Course,
    observations: list[Observation],
    on: date,
    valuesets: ValueSets,
) -> None:
    if course.current is None:
        return
    series = instrument_series(observations, instrument, on, valuesets)
    if not series:
        return  # an instrument never used says nothing, not even "no baseline"
    window_start = course.start - timedelta(days=valuesets.parameter(BASELINE_WINDOW_DAYS))
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
    detail = "no baseline in the 90 days before the first dose"
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
    out.add(
        {
            "kind": "patient",
            "id": "patient",
            "age_min": age_min,
            "age_max": age_max,
            "sex": facts.sex,
            "birth_date_known": age_min is not None,
        },
        FactRef("patient", "patient", facts.source, _age_label(age_min, age_max), facts.birth_date, detail),
    )


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _age_label(age_min: int | None, age_max: int | None) -> str:
    if age_min is None:
        return "age unknown"
    return f"age {age_min}" if age_min == age_max else f"age {age_min}-{age_max}"


def _memberships(codes: list[Coding], valuesets: ValueSets) -> list[str]:
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
    clinical = "unknown"
    if c.clinical_status in _CURRENT:
        clinical = "current"
    elif c.clinical_status in _NOT_CURRENT:
        clinical = "not_current"
    if c.abatement and earliest(c.abatement) <= on:
        clinical = "not_current"  # R4: abated implies not current, whatever the status says
    onset = c.onset if c.onset and earliest(c.onset) <= on else None  # a future onset is no evidence
    recorded = c.recorded_date if c.recorded_date and earliest(c.recorded_date) <= on else None
    basis, dmin, dmax = "none", None, None
    if onset:
        basis, dmin, dmax = (
            "onset",
            max(0, _days(on, onset, bound="latest") or 0),
            _days(on, onset, bound="earliest"),
        )
    elif recorded:
        basis, dmin = "recorded", max(0, _days(on, recorded, bound="latest") or 0)
    verification = "confirmed" if c.verification_status == "confirmed" else "possible"
    clinical_text = c.clinical_status or "status not recorded"
    status = f"{clinical_text}, {c.verification_status or 'verification not recorded'}"
    dated = (
        f"onset {onset}" if onset else (f"recorded {recorded}" if recorded else "no onset or recorded date")
    )
    out.add(
        {
            "kind": "condition",
            "id": fid,
            "value_sets": _memberships(c.codes, valuesets),
            "clinical": clinical,
            "verification": verification,
            "duration_days_min": dmin,
            "duration_days_max": dmax,
            "duration_basis": basis,
            "days_since_recorded": _days_since_recorded(on, onset, recorded),
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
    days_since_end = _days(on, m.end, bound="latest")
    if exposure == "ended" and days_since_end is not None and days_since_end < 0:
        exposure = "current"  # completed early on paper, but the supply runs past today
    coded = _memberships(m.codes, valuesets)
    texts = [t for t in [m.text, *(c.display for c in m.codes)] if t]
    text_sets: set[str] = set()
    for t in texts:
        text_sets |= valuesets.of_text(t)
    detail = f"{_code_label(m.codes) or 'text only'}; status {m.status or 'not recorded'}"
    if m.start:
        detail += f"; started {m.start}"
    if m.end:
        detail += f"; ended {m.end}"
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
            end_date=latest(m.end).isoformat() if m.end else None,
        ),
    )


def _trial_days(m: Medication, exposure: str, on: date) -> int | None:
    """Days the medication has been taken up to the evaluation date: the shortest the dates allow.

    Counted from the latest day the start can denote to today (still taken) or to the earliest day
    the end can denote (stopped). Unknown (None) when the start, or the end of a stopped course, is
    not recorded, or the course starts in the future: an unknown length never counts as a trial.
    """
    if not m.start or exposure not in ("current", "ended"):
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
                set(_memberships(p.codes, valuesets)) | set(_memberships(p.category, valuesets))
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
            "value_sets": _memberships(a.codes, valuesets),
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


def _observations(out: Derived, observations: list[Observation], on: date, valuesets: ValueSets) -> None:
    rows = []
    for i, o in enumerate(observations):
        if o.status in {"entered-in-error", "cancelled"}:
            continue
        usable = o.status in _USABLE_OBSERVATION
        days_since = _days(on, o.effective, bound="latest")
        rows.append((f"o{i}", o, _memberships(o.codes, valuesets), usable, days_since))
    newest: dict[str, tuple[int, str]] = {}
    for fid, _o, sets, usable, days_since in rows:
        if not usable or days_since is None or days_since < 0:
            continue
        for vs in sets:
            if vs not in newest or days_since < newest[vs][0]:
                newest[vs] = (days_since, fid)
    negatives = [
        (earliest(o.effective), set(sets))
        for _fid, o, sets, usable, _d in rows
        if usable and o.result == "negative" and o.effective and latest(o.effective) <= on
    ]
    for fid, o, sets, usable, days_since in rows:
        # Strictly later, judged on the conservative bounds of partial dates: a same-day negative
        # does not lift a positive (their order within the day is unknown).
        later_negative = bool(
            o.effective and any(day > latest(o.effective) and shared & set(sets) for day, shared in negatives)
        )
        value = o.result or (
            f"{o.value_num:g} {o.value_unit or ''}".strip() if o.value_num is not None else o.value_text
        )
        out.add(
            {
                "kind": "observation",
                "id": fid,
                "value_sets": sets,
                "usable": usable,
                "days_since": days_since,
                "value_num": o.value_num,
                "result": o.result,
                "latest_in": sorted(vs for vs in sets if newest.get(vs, (0, ""))[1] == fid),
                "later_negative": later_negative,
            },
            FactRef(
                fid,
                "observation",
                o.source,
                _display(o.codes, None),
                o.effective,
                f"{_code_label(o.codes) or 'uncoded'}; {value or 'no value'}; "
                f"status {o.status or 'not recorded'}",
            ),
        )
