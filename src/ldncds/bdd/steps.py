"""Gherkin step library for auditor scenarios, in clinician language.

Scenarios describe a patient relative to the evaluation date ("diagnosed 14 months ago"), so they
stay true whenever they are replayed; the When step fixes the date. Use in a test module with::

    from ldncds.bdd.steps import *  # noqa: F403
    scenarios("path/to/features")

The rules folder is LDNCDS_RULES_DIR (default: the project's rules/), so the same scenarios can be
replayed against another ruleset to see what it would decide differently.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from ldncds.engine import Assessment, Engine, PatientFacts, default_rules_dir

SECTIONS = ("conditions", "medications", "procedures", "allergies", "observations")
_N = r"(?P<n>\d+) (?P<unit>days?|weeks?|months?|years?)"
_CODE = r"\((?P<system>ICD-10-CM|SNOMED-CT|RxNorm|CPT|HCPCS|LOINC) (?P<code>[^)]+)\)"


@dataclass
class Chart:
    """The patient as the scenario describes it; dates stay relative until the When step."""

    birth: tuple[int, str] | None = None
    birth_year: str | None = None  # a birth date recorded only as a year
    sex: str | None = None
    sections: dict[str, list[dict[str, Any]] | None] = field(
        default_factory=lambda: {s: [] for s in SECTIONS}
    )
    incomplete: list[str] = field(default_factory=list)
    literal: dict[str, Any] | None = None
    counter: int = 0
    assessment: Assessment | None = None

    def source(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}/scenario-{self.counter}"


@lru_cache(maxsize=4)
def _engine(rules_dir: str) -> Engine:
    return Engine(rules_dir)


def scenario_engine() -> Engine:
    return _engine(str(default_rules_dir().resolve()))


def shift(on: date, n: int, unit: str) -> date:
    """`on` minus n days/weeks/months/years (negative n goes forward)."""
    unit = unit.rstrip("s")
    if unit == "day":
        return on - timedelta(days=n)
    if unit == "week":
        return on - timedelta(weeks=n)
    months = n * (12 if unit == "year" else 1)
    y, m = divmod(on.year * 12 + on.month - 1 - months, 12)
    return date(y, m + 1, min(on.day, calendar.monthrange(y, m + 1)[1]))


class _Rel:
    """A date written as 'n units ago', resolved against the evaluation date."""

    def __init__(self, n: int, unit: str, forward: bool = False) -> None:
        self.n, self.unit = (-n if forward else n), unit

    def on(self, day: date) -> str:
        return shift(day, self.n, self.unit).isoformat()


def _resolve(value: Any, on: date) -> Any:
    if isinstance(value, _Rel):
        return value.on(on)
    if isinstance(value, dict):
        return {k: _resolve(v, on) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, on) for v in value]
    return value


def _add(chart: Chart, section: str, item: dict[str, Any]) -> None:
    items = chart.sections[section]
    if items is None:
        raise AssertionError(f"the scenario said the {section} list is not available")
    items.append(item)


def _add_medication(
    chart: Chart,
    display: str,
    code: str,
    status: str,
    start: _Rel | None = None,
    *,
    dose: str | float | None = None,
    end: _Rel | None = None,
    kind: str = "MedicationRequest",
    **fields: Any,
) -> None:
    """A coded (RxNorm) medication record, as the medication steps describe it; what a sentence
    leaves out (no start, no end, no dose) stays out, so it is unknown to the rules."""
    med: dict[str, Any] = {
        "source": chart.source(kind),
        "codes": _coding("RxNorm", code, display),
        "status": status,
        **fields,
    }
    if start is not None:
        med["start"] = start
    if end is not None:
        med["end"] = end
    if dose:
        med["daily_dose_mg"] = float(dose)
    _add(chart, "medications", med)


def _coding(system: str, code: str, display: str) -> list[dict[str, str]]:
    return [{"system": system, "code": code.strip(), "display": display.strip()}]


@pytest.fixture
def chart() -> Chart:
    return Chart()


# ------------------------------------------------------------------ the patient


@given(parsers.re(r"an? (?P<age>\d+)-year-old (?P<sex>female|male) patient"))
def step_patient(chart: Chart, age: str, sex: str) -> None:
    chart.birth, chart.sex = (int(age), "years"), sex


@given(parsers.re(r"an? (?P<sex>female|male) patient whose birth date is recorded only as (?P<year>\d{4})"))
def step_patient_birth_year(chart: Chart, sex: str, year: str) -> None:
    chart.birth, chart.birth_year, chart.sex = None, year, sex


@given("a patient with no recorded birth date")
def step_patient_no_birth_date(chart: Chart) -> None:
    chart.birth = None


@given("the patient facts recorded in the chart:")
def step_literal_facts(chart: Chart, docstring: str) -> None:
    chart.literal = json.loads(docstring)


@given(
    parsers.re(r"the (?P<section>condition|medication|procedure|allergy|observation) list is not available")
)
def step_section_missing(chart: Chart, section: str) -> None:
    name = {"allergy": "allergies"}.get(section, section + "s")
    chart.sections[name] = None


@given(parsers.re(r"the (?P<section>medication|allergy|condition|observation) list is incomplete"))
def step_section_incomplete(chart: Chart, section: str) -> None:
    chart.incomplete.append({"allergy": "allergies"}.get(section, section + "s"))


# ------------------------------------------------------------------ diagnoses


@given(parsers.re(rf"(?P<display>[^(]+) {_CODE} diagnosed {_N} ago(?P<rest>.*)"))
def step_condition(chart: Chart, display: str, system: str, code: str, n: str, unit: str, rest: str) -> None:
    verification = "provisional" if "provisional" in rest else "confirmed"
    condition: dict[str, Any] = {
        "source": chart.source("Condition"),
        "codes": _coding(system, code, display),
        "text": display.strip(),
        "clinical_status": "active",
        "verification_status": verification,
        "onset": _Rel(int(n), unit),
    }
    if m := re.search(r"resolved (\d+) (days?|weeks?|months?|years?) ago", rest):
        condition["clinical_status"] = "resolved"
        condition["abatement"] = _Rel(int(m.group(1)), m.group(2))
    _add(chart, "conditions", condition)


@given(parsers.re(rf"(?P<display>[^(]+) {_CODE} with no onset date, first recorded {_N} ago"))
def step_condition_recorded(chart: Chart, display: str, system: str, code: str, n: str, unit: str) -> None:
    _add(
        chart,
        "conditions",
        {
            "source": chart.source("Condition"),
            "codes": _coding(system, code, display),
            "text": display.strip(),
            "clinical_status": "active",
            "verification_status": "confirmed",
            "recorded_date": _Rel(int(n), unit),
        },
    )


@given(parsers.re(rf"(?P<display>[^(]+) {_CODE} with no date at all"))
def step_condition_undated(chart: Chart, display: str, system: str, code: str) -> None:
    _add(
        chart,
        "conditions",
        {
            "source": chart.source("Condition"),
            "codes": _coding(system, code, display),
            "text": display.strip(),
            "clinical_status": "active",
            "verification_status": "confirmed",
        },
    )


# ------------------------------------------------------------------ medications


@given(
    parsers.re(
        rf"an? (?P<status>active|on-hold) (?P<display>[^(]+) prescription \(RxNorm (?P<code>[^)]+)\)"
        rf"(?: at (?P<dose>[\d.]+) mg a day)? started {_N} ago"
    )
)
def step_current_medication(
    chart: Chart, status: str, display: str, code: str, dose: str | None, n: str, unit: str
) -> None:
    _add_medication(chart, display, code, status, _Rel(int(n), unit), dose=dose)


@given(
    parsers.re(
        rf"(?P<display>[^(]+) \(RxNorm (?P<code>[^)]+)\)(?: at (?P<dose>[\d.]+) mg a day)? "
        rf"taken from {_N} ago "
        r"until (?P<m>\d+) (?P<munit>days?|weeks?|months?|years?) ago"
    )
)
def step_past_medication(
    chart: Chart, display: str, code: str, dose: str | None, n: str, unit: str, m: str, munit: str
) -> None:
    _add_medication(chart, display, code, "completed", _Rel(int(n), unit), dose=dose, end=_Rel(int(m), munit))


@given(
    parsers.re(
        rf"(?P<display>[^(]+) \(RxNorm (?P<code>[^)]+)\) started {_N} ago and stopped, end date not recorded"
    )
)
def step_medication_no_end(chart: Chart, display: str, code: str, n: str, unit: str) -> None:
    _add_medication(chart, display, code, "stopped", _Rel(int(n), unit))


@given(
    parsers.re(
        r'an? (?P<status>active|stopped) medication recorded only as text "(?P<text>[^"]+)"(?P<rest>.*)'
    )
)
def step_text_medication(chart: Chart, status: str, text: str, rest: str) -> None:
    med: dict[str, Any] = {
        "source": chart.source("MedicationStatement"),
        "text": text,
        "status": status,
        "start": _Rel(30, "days"),
    }
    if m := re.search(r"ended (\d+) (days?) ago", rest):
        med["end"] = _Rel(int(m.group(1)), m.group(2))
    _add(chart, "medications", med)


@given("an active medication that cannot be identified")
def step_unidentified_medication(chart: Chart) -> None:
    _add(chart, "medications", {"source": chart.source("MedicationRequest"), "status": "active"})


@given(parsers.re(r"an? (?P<display>[^(]+) prescription \(RxNorm (?P<code>[^)]+)\) with unknown status"))
def step_unknown_status_medication(chart: Chart, display: str, code: str) -> None:
    _add_medication(chart, display, code, "unknown", _Rel(60, "days"))


# ------------------------------------------------------------------ procedures, allergies, results


@given(parsers.re(rf"(?P<display>[^(]+) {_CODE} done {_N} ago"))
def step_procedure(chart: Chart, display: str, system: str, code: str, n: str, unit: str) -> None:
    _add(
        chart,
        "procedures",
        {
            "source": chart.source("Procedure"),
            "codes": _coding(system, code, display),
            "status": "completed",
            "performed": _Rel(int(n), unit),
        },
    )


@given(
    parsers.re(rf"(?P<display>[^(]+) {_CODE} done, (?:dated only by the year (?P<year>\d{{4}})|with no date)")
)
def step_procedure_partial_date(chart: Chart, display: str, system: str, code: str, year: str | None) -> None:
    procedure = {
        "source": chart.source("Procedure"),
        "codes": _coding(system, code, display),
        "status": "completed",
    }
    _add(chart, "procedures", procedure | ({"performed": year} if year else {}))


@given(parsers.re(rf"(?P<display>[^(]+) {_CODE} planned in (?P<n>\d+) (?P<unit>days?|weeks?)"))
def step_planned_procedure(chart: Chart, display: str, system: str, code: str, n: str, unit: str) -> None:
    _add(
        chart,
        "procedures",
        {
            "source": chart.source("Procedure"),
            "codes": _coding(system, code, display),
            "status": "preparation",
            "performed": _Rel(int(n), unit, forward=True),
        },
    )


@given(parsers.re(rf"an active allergy to (?P<display>[^(]+) {_CODE}"))
def step_allergy(chart: Chart, display: str, system: str, code: str) -> None:
    _add(
        chart,
        "allergies",
        {
            "source": chart.source("AllergyIntolerance"),
            "codes": _coding(system, code, display),
            "clinical_status": "active",
            "verification_status": "confirmed",
        },
    )


@given(parsers.re(r'an active allergy recorded only as text "(?P<text>[^"]+)"'))
def step_text_allergy(chart: Chart, text: str) -> None:
    _add(
        chart,
        "allergies",
        {"source": chart.source("AllergyIntolerance"), "text": text, "clinical_status": "active"},
    )


@given(
    parsers.re(
        r"an? (?P<prelim>preliminary )?(?P<result>positive|negative) "
        rf"(?P<display>[^(]+) \(LOINC (?P<code>[^)]+)\) {_N} ago"
    )
)
def step_qualitative_result(
    chart: Chart, prelim: str | None, result: str, display: str, code: str, n: str, unit: str
) -> None:
    _add(
        chart,
        "observations",
        {
            "source": chart.source("Observation"),
            "codes": _coding("LOINC", code, display),
            "status": "preliminary" if prelim else "final",
            "result": result,
            "effective": _Rel(int(n), unit),
        },
    )


@given(
    parsers.re(
        rf"an? (?P<prelim>preliminary )?(?P<display>[^(]+) \(LOINC (?P<code>[^)]+)\) of "
        rf"(?P<cmp><=|>=|<|>)?(?P<value>[\d.]+)"
        rf"(?: (?P<vunit>[^ ]*/[^ ]*))? measured {_N} ago"
    )
)
def step_numeric_result(
    chart: Chart,
    prelim: str | None,
    display: str,
    code: str,
    cmp: str | None,
    value: str,
    vunit: str | None,
    n: str,
    unit: str,
) -> None:
    """A lab or score; "of <15 mL/min/1.73m2" gives its comparator and unit (unit-less: none)."""
    _add(
        chart,
        "observations",
        {
            "source": chart.source("Observation"),
            "codes": _coding("LOINC", code, display),
            "status": "preliminary" if prelim else "final",
            "value_num": float(value),
            "value_comparator": cmp or None,
            "value_unit": vunit,
            "effective": _Rel(int(n), unit),
        },
    )


# ------------------------------------------------------------------ assessing


@when(parsers.re(r"the patient is assessed on (?P<day>\d{4}-\d{2}-\d{2})"))
def step_assess(chart: Chart, day: str) -> None:
    on = date.fromisoformat(day)
    chart.assessment = scenario_engine().assess(facts_of(chart, on), on)


def facts_of(chart: Chart, on: date) -> PatientFacts:
    if chart.literal is not None:
        return PatientFacts.model_validate(chart.literal)
    body: dict[str, Any] = {"source": "Patient/scenario", "sex": chart.sex, "incomplete": chart.incomplete}
    if chart.birth:
        body["birth_date"] = (shift(on, chart.birth[0], "years") - timedelta(days=30)).isoformat()
    elif chart.birth_year:
        body["birth_date"] = chart.birth_year
    body.update({name: _resolve(items, on) for name, items in chart.sections.items()})
    return PatientFacts.model_validate(body)


def _done(chart: Chart) -> Assessment:
    assert chart.assessment is not None, "the scenario has no 'When the patient is assessed on ...' step"
    return chart.assessment


# ------------------------------------------------------------------ outcomes


@then(parsers.re(r"the decision is (?P<decision>[a-z_]+)"))
def step_decision(chart: Chart, decision: str) -> None:
    a = _done(chart)
    assert a.decision == decision, f"decision is {a.decision} ({a.reason}), expected {decision}"


@then(parsers.re(r"criterion (?P<criterion>[a-z_]+) is (?P<status>met|not_met|unknown|not_applicable)"))
def step_criterion(chart: Chart, criterion: str, status: str) -> None:
    found = {c.id: c.status for c in _done(chart).criteria}
    assert criterion in found, f"no criterion {criterion}; criteria are {sorted(found)}"
    assert found[criterion] == status, f"criterion {criterion} is {found[criterion]}, expected {status}"


@then(parsers.re(r"the explanation cites rule (?P<rule_id>[A-Z][A-Z0-9-]+)"))
def step_cites_rule(chart: Chart, rule_id: str) -> None:
    fired = _done(chart).rules_fired
    assert rule_id in fired, f"rule {rule_id} did not fire; fired: {', '.join(fired)}"


@then(parsers.re(r"rule (?P<rule_id>[A-Z][A-Z0-9-]+) does not apply"))
def step_rule_silent(chart: Chart, rule_id: str) -> None:
    assert rule_id not in _done(chart).rules_fired, f"rule {rule_id} fired"


@then(parsers.re(r'it names "(?P<text>[^"]+)"'))
def step_names(chart: Chart, text: str) -> None:
    a = _done(chart)
    cited = [f.display for h in a.hard_stops for f in [h.culprit]]
    cited += [f.display for c in a.cautions for f in c.culprits]
    cited += [f.display for c in a.criteria for e in c.explanations for f in e.facts]
    assert any(text.lower() in d.lower() for d in cited), f"{text!r} is not named; cited: {cited}"


@then(parsers.re(r"the earliest start date is (?P<day>\d{4}-\d{2}-\d{2})"))
def step_earliest_start(chart: Chart, day: str) -> None:
    a = _done(chart)
    assert a.earliest_start == date.fromisoformat(day), (
        f"earliest start is {a.earliest_start}, expected {day}"
    )


@then("no earliest start date is given")
def step_no_earliest_start(chart: Chart) -> None:
    assert _done(chart).earliest_start is None


@then(parsers.re(r"hard stop (?P<stop>[a-z_]+) is listed"))
def step_hard_stop(chart: Chart, stop: str) -> None:
    ids = [h.id for h in _done(chart).hard_stops]
    assert stop in ids, f"hard stops are {ids}"


@then(parsers.re(r"hard stop (?P<stop>[a-z_]+) is not listed"))
def step_no_hard_stop(chart: Chart, stop: str) -> None:
    ids = [h.id for h in _done(chart).hard_stops]
    assert stop not in ids, f"hard stops are {ids}"


@then(parsers.re(r"caution (?P<caution>[a-z_]+) is listed"))
def step_caution(chart: Chart, caution: str) -> None:
    ids = [c.id for c in _done(chart).cautions]
    assert caution in ids, f"cautions are {ids}"


@then(parsers.re(r"caution (?P<caution>[a-z_]+) is not listed"))
def step_no_caution(chart: Chart, caution: str) -> None:
    ids = [c.id for c in _done(chart).cautions]
    assert caution not in ids, f"cautions are {ids}"


@then("a same-day safety alert is raised")
def step_alert(chart: Chart) -> None:
    assert _done(chart).alerts, "no safety alert"


@then("no same-day safety alert is raised")
def step_no_alert(chart: Chart) -> None:
    assert not _done(chart).alerts, _done(chart).alerts


@then(parsers.re(r"the missing information includes (?P<criterion>[a-z_]+)"))
def step_missing(chart: Chart, criterion: str) -> None:
    missing = [m.criterion for m in _done(chart).missing]
    assert criterion in missing, f"missing is {missing}"


@then(parsers.re(r'what would change the decision mentions "(?P<text>[^"]+)"'))
def step_counterfactual(chart: Chart, text: str) -> None:
    texts = _done(chart).counterfactuals
    assert any(text.lower() in t.lower() for t in texts), f"counterfactuals are {texts}"


@then(parsers.re(r"reminder (?P<reminder>[a-z0-9_]+) is due from (?P<day>\d{4}-\d{2}-\d{2})"))
def step_reminder_due(chart: Chart, reminder: str, day: str) -> None:
    due = {r.id: r.due_from for r in _done(chart).reminders}
    assert reminder in due, f"reminders are {sorted(due)}"
    assert due[reminder] == date.fromisoformat(day), f"{reminder} is due from {due[reminder]}, expected {day}"


@then(parsers.re(r"the plan starts at (?P<dose>[\d.]+) mg and reaches (?P<target>[\d.]+) mg"))
def step_plan(chart: Chart, dose: str, target: str) -> None:
    plan = _done(chart).plan
    assert plan is not None, "no titration plan"
    assert plan.steps[0].dose_mg == float(dose) and plan.target_mg == float(target)


@then("no titration plan is given")
def step_no_plan(chart: Chart) -> None:
    assert _done(chart).plan is None and not _done(chart).reminders


@then(parsers.re(r'the plan notes "(?P<text>[^"]+)"'))
def step_plan_note(chart: Chart, text: str) -> None:
    plan = _done(chart).plan
    assert plan is not None and any(text.lower() in n.text.lower() for n in plan.adjustments)


@then(parsers.re(r'a note says "(?P<text>[^"]+)"'))
def step_note(chart: Chart, text: str) -> None:
    assert any(text.lower() in n.text.lower() for n in _done(chart).notes), "note not found"


@then(parsers.re(r'no note says "(?P<text>[^"]+)"'))
def step_no_note(chart: Chart, text: str) -> None:
    notes = [n.text for n in _done(chart).notes]
    assert not any(text.lower() in n.lower() for n in notes), notes


# ------------------------------------------------------------------ on therapy


def _therapy_status(chart: Chart) -> Any:
    therapy = _done(chart).therapy
    assert therapy is not None, (
        f"the patient is not followed up on therapy (decision {_done(chart).decision})"
    )
    return therapy


@then(parsers.re(r"the response is (?P<status>[a-z_]+)"))
def step_response(chart: Chart, status: str) -> None:
    therapy = _therapy_status(chart)
    assert therapy.response_status == status, f"response is {therapy.response_status}, expected {status}"


@then(parsers.re(r'the recommendation mentions "(?P<text>[^"]+)"'))
def step_recommendation(chart: Chart, text: str) -> None:
    recommendation = _therapy_status(chart).recommendation or ""
    assert text.lower() in recommendation.lower(), f"recommendation is {recommendation!r}"


@then(parsers.re(r"measure (?P<instrument>[a-z_]+) is (?P<status>[a-z_]+)"))
def step_measure(chart: Chart, instrument: str, status: str) -> None:
    found = {i.instrument: i.status for i in _therapy_status(chart).instruments}
    assert found.get(instrument) == status, f"measures are {found}"


@then(parsers.re(r'adverse effect (?P<effect>[a-z_]+) is listed with the action "(?P<text>[^"]+)"'))
def step_adverse_effect(chart: Chart, effect: str, text: str) -> None:
    effects = {a.id: a.action for a in _therapy_status(chart).adverse_effects}
    assert effect in effects, f"adverse effects are {sorted(effects)}"
    assert text.lower() in effects[effect].lower(), f"action is {effects[effect]!r}"


@then(parsers.re(r"reminder (?P<reminder>[a-z0-9_]+) is overdue by (?P<days>\d+) days"))
def step_reminder_overdue(chart: Chart, reminder: str, days: str) -> None:
    found = {r.id: r for r in _done(chart).reminders}
    assert reminder in found, f"reminders are {sorted(found)}"
    r = found[reminder]
    assert r.state == "overdue" and r.days_overdue == int(days), f"{reminder} is {r.state} ({r.days_overdue})"


@then(parsers.re(r"reminder (?P<reminder>[a-z0-9_]+) is (?P<state>done|due|upcoming)"))
def step_reminder_state(chart: Chart, reminder: str, state: str) -> None:
    found = {r.id: r.state for r in _done(chart).reminders}
    assert found.get(reminder) == state, f"reminder states are {found}"


@then("a critical alert is raised")
def step_critical_alert(chart: Chart) -> None:
    alerts = _done(chart).alerts
    assert any(a.lower().startswith("critical") for a in alerts), f"alerts are {alerts}"


@given(parsers.re(rf"an? (?P<display>[^(]+) symptom {_CODE} observed {_N} ago"))
def step_symptom_observation(chart: Chart, display: str, system: str, code: str, n: str, unit: str) -> None:
    _add(
        chart,
        "observations",
        {
            "source": chart.source("Observation"),
            "codes": _coding(system, code, display),
            "status": "final",
            "effective": _Rel(int(n), unit),
        },
    )


from ldncds.bdd.steps_elig import *  # noqa: E402,F401,F403
from ldncds.bdd.steps_explain import *  # noqa: E402,F401,F403
from ldncds.bdd.steps_fhir import *  # noqa: E402,F401,F403
from ldncds.bdd.steps_hardstop import *  # noqa: E402,F401,F403
from ldncds.bdd.steps_http import *  # noqa: E402,F401,F403
from ldncds.bdd.steps_rules17 import *  # noqa: E402,F401,F403
from ldncds.bdd.steps_term import *  # noqa: E402,F401,F403
