"""Export a stored decision as a Gherkin scenario that reproduces it (`ldncds scenarios` runs it).

The step texts are the project's step library (ldncds.bdd.steps); do not reword them. The facts are
the stored facts, verbatim; comment lines restate them in clinician language for the reader.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from ldncds.engine import Assessment, PatientFacts, earliest, latest

from .interface import StoredAssessment

_INDENT = "  "
_ACTIVE_CONDITION = {None, "active", "recurrence", "relapse"}
_NOT_REAL = {"refuted", "entered-in-error"}
_CURRENT_MEDICATION = {"active", "on-hold", "intended", "draft", "unknown", None}
_LONE_PUNCTUATION = re.compile(r"(?<=\s)[^\w\s]+(?=\s)")
_SNOMED_TAG = re.compile(r"\s*\((disorder|finding|procedure|situation|substance|product|regime/therapy)\)$")


def export_feature(stored: StoredAssessment) -> str:
    """The .feature text for one stored assessment (UTF-8, newline-terminated)."""
    assessment = Assessment.model_validate(stored.assessment)
    facts = PatientFacts.model_validate(stored.facts)
    on = stored.evaluation_date
    lines = [f"Feature: Replay of assessment {_one_line(stored.id)}", *_about(stored), ""]
    lines.append(f"{_INDENT}Scenario: {assessment.decision} for {summary(facts, on)}")
    lines += [f"{_INDENT * 2}# {_one_line(text)}" for text in describe(facts, on)]
    lines.append(f"{_INDENT * 2}Given the patient facts recorded in the chart:")
    lines += _doc_string(stored.facts, _INDENT * 3)
    lines.append(f"{_INDENT * 2}When the patient is assessed on {on.isoformat()}")
    lines += [f"{_INDENT * 2}{step}" for step in _then_steps(assessment)]
    return "\n".join(lines) + "\n"


def _about(stored: StoredAssessment) -> list[str]:
    caller = stored.caller
    via = [f"channel {caller.channel}"]
    via += [f"service {caller.service_id}"] if caller.service_id else []
    via += [f"hook instance {caller.hook_instance}"] if caller.hook_instance else []
    via += [f"issuer {caller.issuer}"] if caller.issuer else []
    text = [
        f"Stored {stored.created_at.isoformat()} as record {stored.seq} of the decision log "
        f"({', '.join(via)}).",
        f"Decided with ruleset {stored.ruleset_version} (content hash {stored.ruleset_hash}).",
        f"Evaluation date {stored.evaluation_date.isoformat()}; input digest sha256 {stored.input_digest}.",
        "Passes under the rules that made the decision; under other rules it shows what would differ.",
    ]
    return [f"{_INDENT}{_one_line(t)}" for t in text]


def _then_steps(a: Assessment) -> list[str]:
    steps = [f"Then the decision is {a.decision}"]
    steps += [f"And criterion {c.id} is {c.status}" for c in a.criteria]
    steps += [f"And the explanation cites rule {rule_id}" for rule_id in a.rules_fired]
    if a.earliest_start:
        steps.append(f"And the earliest start date is {a.earliest_start.isoformat()}")
    steps += [f"And reminder {r.id} is due from {r.due_from.isoformat()}" for r in a.reminders]
    return steps


def _doc_string(facts: dict[str, Any], indent: str) -> list[str]:
    text = json.dumps(facts, indent=2, ensure_ascii=False)
    if '\\"\\"\\"' in text:
        # Gherkin reads \"\"\" inside a doc string as """, which would break the JSON: spell quotes as \u0022.
        text = re.sub(r"\\(.)", lambda m: "\\u0022" if m.group(1) == '"' else m.group(0), text)
    return [f'{indent}"""', *(f"{indent}{line}" for line in text.splitlines()), f'{indent}"""']


# ---------------------------------------------------------------------- clinician language


def summary(facts: PatientFacts, on: date) -> str:
    """One line, e.g. 'a 52-year-old woman with fibromyalgia and an active oxycodone prescription'."""
    who = _who(facts, on)
    conditions = [_lower(_name(c.codes, c.text)) for c in _current_conditions(facts)]
    meds = [_lower(_name(m.codes, m.text)) for m in _current_medications(facts)]
    parts = []
    if facts.conditions is None:
        parts.append("conditions not available")
    elif conditions:
        parts.append(_listing(conditions))
    else:
        parts.append("no current condition on record")
    if meds:
        parts.append(
            f"{'an active' if len(meds) == 1 else 'active'} {_listing(meds)} "
            f"{'prescription' if len(meds) == 1 else 'prescriptions'}"
        )
    # Stand-alone punctuation ("2 MG / naloxone") would make test names ambiguous: drop it.
    return _one_line(_LONE_PUNCTUATION.sub(" ", f"{who} with {' and '.join(parts)}"))


def describe(facts: PatientFacts, on: date) -> list[str]:
    """Comment lines: the main facts, one per line, as a clinician would list them."""
    lines = [
        f"Patient: {_age_text(facts, on)} on {on.isoformat()}, sex {facts.sex or 'not recorded'}"
        + (", deceased" if facts.deceased else "")
        + (f" on {facts.deceased_on}" if facts.deceased_on else "")
    ]
    lines += _section("Condition", "Conditions", facts.conditions, _condition_line)
    lines += _section("Medication", "Medications", facts.medications, _medication_line)
    lines += _section("Procedure", "Procedures", facts.procedures, _procedure_line)
    lines += _section("Allergy", "Allergies", facts.allergies, _allergy_line)
    lines += _section("Observation", "Observations", facts.observations, _observation_line)
    if facts.incomplete:
        lines.append(f"Possibly incomplete: {', '.join(facts.incomplete)}")
    return lines


def _section(label: str, plural: str, items: list[Any] | None, line: Any) -> list[str]:
    if items is None:
        return [f"{plural}: not available (unknown)"]
    if not items:
        return [f"{plural}: none recorded"]
    return [f"{label}: {line(item)}" for item in items]


def _condition_line(c: Any) -> str:
    status = ", ".join(s for s in (c.clinical_status, c.verification_status) if s) or "status not recorded"
    dates = [f"onset {c.onset}" if c.onset else "onset not recorded"]
    dates += [f"recorded {c.recorded_date}"] if c.recorded_date else []
    dates += [f"ended {c.abatement}"] if c.abatement else ["abatement recorded, no date"] if c.abated else []
    return f"{_name(c.codes, c.text)}{_codes(c.codes)}, {status}, {', '.join(dates)} [{c.source}]"


def _medication_line(m: Any) -> str:
    kind = "prescription" if m.is_order else "proposal (not use)"
    span = f"from {m.start or 'unknown date'}" + (f" to {m.end}" if m.end else "")
    dose = f", {m.daily_dose_mg:g} mg/day" if m.daily_dose_mg is not None else ""
    dose += f", '{m.dose_text}'" if m.dose_text else ""
    coded = "" if m.codes else ", text only"
    return (
        f"{_name(m.codes, m.text)}{_codes(m.codes)}{coded}, {m.status or 'status not recorded'} {kind}, "
        f"{span}{dose} [{m.source}]"
    )


def _procedure_line(p: Any) -> str:
    when = p.performed or "date not recorded"
    status = p.status or "status not recorded"
    return f"{_name(p.codes, p.text)}{_codes(p.codes)}, {status}, {when} [{p.source}]"


def _allergy_line(a: Any) -> str:
    status = ", ".join(s for s in (a.clinical_status, a.verification_status) if s) or "status not recorded"
    return f"{_name(a.codes, a.text)}{_codes(a.codes)}, {status} [{a.source}]"


def _observation_line(o: Any) -> str:
    if o.value_num is not None:
        value = f"{o.value_num:g}" + (f" {o.value_unit}" if o.value_unit else "")
    else:
        value = o.result or o.value_text or "no value"
    when = o.effective or "date not recorded"
    return f"{_name(o.codes, None)}{_codes(o.codes)}: {value}, {when} [{o.source}]"


def _who(facts: PatientFacts, on: date) -> str:
    age = _age_range(facts, on)
    noun = {"female": "woman", "male": "man"}.get(facts.sex or "", "patient")
    if age is None:
        return f"a {noun} of unknown age"
    low, high = age
    years = f"{low}-year-old" if low == high else f"{low}- or {high}-year-old"
    if high < 18:
        noun = "patient"
    return f"{'an' if years[0] in '8' or years.startswith(('11', '18')) else 'a'} {years} {noun}"


def _age_text(facts: PatientFacts, on: date) -> str:
    age = _age_range(facts, on)
    if age is None:
        return "age unknown"
    low, high = age
    return f"age {low}" if low == high else f"age {low} or {high}"


def _age_range(facts: PatientFacts, on: date) -> tuple[int, int] | None:
    if not facts.birth_date:
        return None
    youngest, oldest = _age(latest(facts.birth_date), on), _age(earliest(facts.birth_date), on)
    return youngest, oldest


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _current_conditions(facts: PatientFacts) -> list[Any]:
    return [
        c
        for c in facts.conditions or []
        if c.clinical_status in _ACTIVE_CONDITION and c.verification_status not in _NOT_REAL
    ]


def _current_medications(facts: PatientFacts) -> list[Any]:
    return [
        m for m in facts.medications or [] if m.status in _CURRENT_MEDICATION and m.is_order and not m.end
    ]


def _name(codes: list[Any], text: str | None) -> str:
    for coding in codes:
        if coding.display:
            return _SNOMED_TAG.sub("", coding.display)
    if text:
        return text
    return f"{codes[0].system} {codes[0].code}" if codes else "unnamed entry"


def _codes(codes: list[Any]) -> str:
    return f" ({'; '.join(f'{c.system} {c.code}' for c in codes)})" if codes else ""


def _lower(name: str) -> str:
    """'Fibromyalgia' -> 'fibromyalgia', but 'HIV' and 'NSAID' stay."""
    return name[0].lower() + name[1:] if len(name) > 1 and name[1].islower() else name


def _listing(names: list[str], most: int = 2) -> str:
    names = list(dict.fromkeys(names))
    shown = names[:most] + ([f"{len(names) - most} more"] if len(names) > most else [])
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
