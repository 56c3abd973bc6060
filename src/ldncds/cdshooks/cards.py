"""Assessment -> the one patient-view decision card (pure functions, no HTTP).

Every part of the card comes from the engine's Assessment: the summary from its one-line reason, the
detail from its criteria, hard stops, cautions, plan and reminders, each with the record it came from.
An offer of LDN says on its face what the ruleset's disclaimer says (off-label, weak evidence).

Card `extension` key: ``org.ldncds.assessment`` (reverse-domain, as CDS Hooks asks) holding decision,
assessment id and ruleset version. The old key ``ldncds`` carries the same object for one release
(deprecated; remove in the next one). ``source.topic`` is ``urn:ldncds:rule`` + the deciding rule id:
the same on every site, whatever its base URL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import date
from functools import lru_cache

from ldncds.engine import (
    CODE_SYSTEM_URIS,
    Assessment,
    Caution,
    CriterionResult,
    DataNote,
    Explanation,
    FactCitation,
    HardStop,
    MissingItem,
    MonitoringReminder,
    Note,
    TitrationPlan,
)
from ldncds.service.links import link_query

from .models import SUMMARY_MAX, Action, Card, Coding, Indicator, Link, OverrideReason, Source, Suggestion

INDICATOR: dict[str, Indicator] = {
    "candidate": "info",
    "not_candidate": "info",
    "insufficient_information": "info",
    "candidate_with_cautions": "warning",
    "contraindicated": "warning",
    "on_therapy": "info",
}
SOURCE_LABEL = "ldncds low-dose naltrexone decision support"
EXTENSION_KEY = "org.ldncds.assessment"
LEGACY_EXTENSION_KEY = "ldncds"  # deprecated: kept readable for one release
TOPIC_SYSTEM = "urn:ldncds:rule"  # stable across sites, unlike the rulebook's URL
# Decisions that offer LDN: their card says the ruleset's disclaimer in the summary and at the top.
OFFERS = frozenset({"candidate", "candidate_with_cautions"})
NALTREXONE_RXNORM = "7243"  # ingredient code; a member of the `naltrexone` value set (checked in tests)
OVERRIDE_REASON_SYSTEM = "urn:ldncds:cds-hooks:override-reason"
OVERRIDE_REASONS = (
    OverrideReason(
        system=OVERRIDE_REASON_SYSTEM,
        code="record-out-of-date",
        display="The medication or problem list is out of date",
    ),
    OverrideReason(system=OVERRIDE_REASON_SYSTEM, code="patient-declined", display="Patient declined"),
    OverrideReason(
        system=OVERRIDE_REASON_SYSTEM, code="already-addressed", display="Already discussed or addressed"
    ),
    OverrideReason(system=OVERRIDE_REASON_SYSTEM, code="clinical-judgement", display="Clinical judgement"),
)
_STATUS_HEADING = {
    "met": "Met",
    "not_met": "Not met",
    "unknown": "Unknown",
    "not_applicable": "Not applicable",
}


def shorten(text: str, limit: int = SUMMARY_MAX) -> str:
    """One line of at most `limit` characters, cut at a word boundary and marked with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-(") + "…"


# Every character markdown could read as syntax, escaped with a backslash. Most text has none (a
# regex search says so cheaply); a regex substitution is cheaper than str.translate's dict table.
_MD_SYNTAX = re.compile("[" + re.escape("\\`*_[]()<>|~#") + "]")


def md(text: str) -> str:
    """Record text as literal markdown: no links, emphasis or HTML can be smuggled in from the EHR."""
    text = " ".join(text.split())
    if _MD_SYNTAX.search(text) is None:
        return text
    return _MD_SYNTAX.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    return "\\" + match.group()


@lru_cache(maxsize=4096)
def _md_rules(text: str) -> str:
    """`md` of text the ruleset wrote (titles, the disclaimer): the same few strings on every card.
    Never for record text: no patient data is kept here."""
    return md(text)


def indicator(assessment: Assessment) -> Indicator:
    """Same-day safety alerts (e.g. an opioid while on LDN, suicidal thoughts) are critical; on therapy,
    an overdue reminder or a serious adverse effect is a warning; otherwise by decision."""
    if assessment.alerts:
        return "critical"
    therapy = assessment.therapy
    if therapy and (
        any(a.serious for a in therapy.adverse_effects)
        or any(r.state == "overdue" for r in assessment.reminders)
    ):
        return "warning"
    return INDICATOR[assessment.decision]


def deciding_explanation(assessment: Assessment) -> Explanation:
    """The rule behind the decision: the first hard stop's rule if contraindicated, else the decision rule."""
    if assessment.decision == "contraindicated" and assessment.hard_stops:
        return assessment.hard_stops[0].explanations[0]
    return assessment.explanation


def deciding_rule(assessment: Assessment) -> str:
    return deciding_explanation(assessment).rule_id


def rule_url(base_url: str, rule_id: str) -> str:
    return f"{base_url.rstrip('/')}/rulebook#rule-{rule_id}"


def assessment_url(base_url: str, assessment_id: str) -> str:
    return f"{base_url.rstrip('/')}/assessments/{assessment_id}{link_query(assessment_id)}"


def decision_card(assessment: Assessment, *, base_url: str, patient_id: str | None) -> Card:
    """The patient-view card. Its uuid is the assessment id, so feedback lands on the assessment."""
    if not assessment.assessment_id:
        raise ValueError("the assessment must be stored (have an id) before a card is built")
    rule_id = deciding_rule(assessment)
    suggestion = start_suggestion(assessment, patient_id)
    about = card_extension(assessment)
    return Card(
        uuid=assessment.assessment_id,
        summary=card_summary(assessment),
        detail=card_detail(assessment),
        indicator=indicator(assessment),
        source=Source(
            label=SOURCE_LABEL,
            url=rule_url(base_url, rule_id),
            topic=Coding(system=TOPIC_SYSTEM, code=rule_id),
        ),
        suggestions=[suggestion] if suggestion else None,
        selectionBehavior="at-most-one" if suggestion else None,
        overrideReasons=list(OVERRIDE_REASONS),
        links=[
            Link(
                label="Why? Full explanation",
                url=assessment_url(base_url, assessment.assessment_id),
                type="absolute",
            )
        ],
        extension={EXTENSION_KEY: about, LEGACY_EXTENSION_KEY: dict(about)},
    )


def card_extension(a: Assessment) -> dict[str, str]:
    return {
        "decision": a.decision,
        "assessment_id": a.assessment_id or "",
        "ruleset_version": a.ruleset_version,
    }


def card_summary(a: Assessment) -> str:
    """The one line every EHR shows. An offer of LDN ends with the ruleset's disclaimer (off-label,
    weak evidence); only the reason before it is ever shortened, never the disclaimer."""
    text = f"Low-dose naltrexone: {a.reason}"
    if a.decision in OFFERS and a.disclaimer:
        suffix = f" ({a.disclaimer.summary})"
        return shorten(text, SUMMARY_MAX - len(suffix)) + suffix
    return shorten(text)


# ---------------------------------------------------------------------------------------------- detail


def _cite(fact: FactCitation) -> str:
    when = f", {fact.date}" if fact.date else ""
    return f"{md(fact.display)} ({md(fact.source)}{when})"


def _rules(rule_ids: Iterable[str]) -> str:
    ids = list(dict.fromkeys(rule_ids))
    return f"rule{'s' if len(ids) > 1 else ''} {', '.join(ids)}" if ids else "default"


def _section(title: str, lines: list[str]) -> list[str]:
    return [f"**{title}**", "", *lines, ""] if lines else []


def card_detail(a: Assessment) -> str:
    """What matters for this decision first (hard stops and how they could be lifted, cautions, the
    missing data it turns on); the criteria, plan and what is also unknown after."""
    titles = {c.id: c.title for c in a.criteria}  # a missing item is named by its criterion's title
    lines = [
        *_head(a),
        *_data_notes(a.data_notes),
        *_section("Same-day alerts", [f"- **{md(text)}**" for text in a.alerts]),
        *_section("Hard stops", [_hard_stop_line(h) for h in a.hard_stops]),
        *_section("Cautions", [_caution_line(c) for c in a.cautions]),
        *_section("Also considered", [_note_line(n) for n in a.notes]),
        *_therapy(a),
        *_earliest_start(a.earliest_start),
        *_section("What would change this decision", [f"- {md(text)}" for text in a.counterfactuals]),
        *_section("Missing", [_missing_line(m, titles) for m in a.missing]),
        *_criteria_shown(a),
        *_plan(a.plan),
        *_section("Monitoring", [_reminder_line(r) for r in a.reminders]),
        *_section(
            "Also missing (this decision does not depend on it)",
            [_missing_line(m, titles) for m in a.also_missing],
        ),
    ]
    return "\n".join(lines).strip()


def _head(a: Assessment) -> list[str]:
    """The decision in bold; the ruleset's disclaimer wherever LDN is offered or already taken; then
    when, with which ruleset and by which rule it was decided (so a reader can look the rule up)."""
    rule = deciding_explanation(a)
    head = [f"**{md(a.reason)}.**", ""]
    if a.disclaimer and (a.decision in OFFERS or a.therapy is not None):
        summary = a.disclaimer.summary[:1].upper() + a.disclaimer.summary[1:]  # never "Ldn" for "LDN"
        head += [f"**{_md_rules(summary)}.** {_md_rules(a.disclaimer.text)}", ""]
    head += [
        f"Evaluated {a.evaluation_date} with ruleset {a.ruleset_version}; decided by rule {rule.rule_id} "
        f"({_md_rules(rule.title)}).",
        "",
    ]
    return head


def _hard_stop_line(h: HardStop) -> str:
    """The culprit record in bold, and when LDN could start once a washout has passed."""
    washout = f"; earliest start {h.earliest_start}" if h.earliest_start else ""
    rules = _rules(e.rule_id for e in h.explanations)
    return f"- {_md_rules(h.title)}: **{_cite(h.culprit)}**{washout} ({rules})"


def _caution_line(c: Caution) -> str:
    """Every record behind the caution, then its same-day safety alert if the rule gives one."""
    culprits = "; ".join(_cite(f) for f in c.culprits)
    alert = f". **Alert:** {md(c.alert)}" if c.alert else ""
    return f"- {_md_rules(c.title)}: {culprits} ({_rules(e.rule_id for e in c.explanations)}){alert}"


def _earliest_start(day: date | None) -> list[str]:
    return [f"**Earliest start:** {day}", ""] if day else []


def _criteria_shown(a: Assessment) -> list[str]:
    """The candidacy criteria, by status. A patient already on LDN reads the "On therapy" part
    instead; criteria also missing are left out here, said once in their own part at the end."""
    if a.decision == "on_therapy":
        return []
    apart = {m.criterion for m in a.also_missing}
    return _criteria([c for c in a.criteria if c.id not in apart])


def _reminder_line(r: MonitoringReminder) -> str:
    return (
        f"- {_due(r.due_from, r.due_by)}{_state(r.state, r.days_overdue)}: {_md_rules(r.what)} "
        f"(rule {r.explanation.rule_id})"
    )


def _data_notes(notes: list[DataNote]) -> list[str]:
    """Records that could not be read are named, never dropped silently (and those read with a caveat)."""
    unreadable = [n for n in notes if n.severity == "unreadable"]
    caveats = [n for n in notes if n.severity != "unreadable"]
    count = len(unreadable)
    heading = f"{count} record{'s' if count != 1 else ''} could not be read"
    return _section(heading, [_data_note_line(n) for n in unreadable]) + _section(
        "Read with a caveat", [_data_note_line(n) for n in caveats]
    )


def _data_note_line(n: DataNote) -> str:
    where = f" ({md(n.section)})" if n.section else ""
    return f"- {md(n.source)}{where}: {md(n.reason)}"


def _note_line(n: Note) -> str:
    facts = "; ".join(dict.fromkeys(_cite(f) for f in n.explanation.facts))
    return f"- {md(n.text)}" + (f" ({facts})" if facts else "") + f" (rule {n.explanation.rule_id})"


def _missing_line(m: MissingItem, titles: dict[str, str]) -> str:
    title = titles.get(m.criterion, m.criterion)
    return f"- {_md_rules(title)}: {_md_rules(m.what)}" + (f" *{_md_rules(m.note)}*" if m.note else "")


def _state(state: str, days_overdue: int | None) -> str:
    if state == "overdue":
        return f" **OVERDUE by {days_overdue} days**"
    return {"done": " (done)", "due": " **(due now)**", "upcoming": ""}[state]


def _therapy(a: Assessment) -> list[str]:
    t = a.therapy
    if t is None:
        return []
    dose = f"{t.daily_dose_mg:g} mg/day" if t.daily_dose_mg is not None else "dose not recorded"
    lines = [
        f"- On LDN {dose} since {t.start_date} (week {t.weeks_on_therapy}; {md(t.source)}; "
        f"rule {t.explanation.rule_id})",
        f"- Response: **{(t.response_status or 'not assessed').replace('_', ' ')}**"
        + (f". {md(t.recommendation)}" if t.recommendation else "")
        + (f" (rule {t.recommendation_explanation.rule_id})" if t.recommendation_explanation else ""),
    ]
    for i in t.instruments:
        change = ""
        if i.baseline and i.latest and i.change_abs is not None:
            pct = f", {i.change_pct:+g} %" if i.change_pct is not None else ""
            change = (
                f": {i.baseline.value:g} ({i.baseline.date}) to {i.latest.value:g} ({i.latest.date}), "
                f"{i.change_abs:+g}{pct}"
            )
        lines.append(f"- {md(i.instrument)}{change}: {i.status.replace('_', ' ')}")
    for e in t.adverse_effects:
        serious = "**Serious:** " if e.serious else ""
        lines.append(
            f"- {serious}{md(e.id.replace('_', ' '))} ({_cite(e.culprit)}): {md(e.action)} "
            f"(rule {e.explanation.rule_id})"
        )
    return _section("On therapy", lines)


def _criteria(criteria: list[CriterionResult]) -> list[str]:
    lines: list[str] = []
    for status, heading in _STATUS_HEADING.items():
        rows = [_criterion_line(c) for c in criteria if c.status == status]
        lines += _section(f"Criteria {heading.lower()}", rows)
    return lines


def _criterion_line(c: CriterionResult) -> str:
    facts = [f for e in c.explanations for f in e.facts]
    if c.status == "unknown":
        why = f"missing: {_md_rules(c.missing or c.question)}"
    elif facts:
        why = "; ".join(dict.fromkeys(_cite(f) for f in facts))
    else:
        why = _md_rules(c.basis)
    return f"- {_md_rules(c.title)}: {why} ({_rules(e.rule_id for e in c.explanations)})"


def _plan(plan: TitrationPlan | None) -> list[str]:
    if plan is None:
        return []
    steps = [
        f"- from {s.starts_on} (week {s.from_week}): {s.dose_mg:g} mg {md(s.timing)}"
        + (" **(above the studied range)**" if s.above_flag else "")
        for s in plan.steps
    ]
    steps += [f"- {md(n.text)} (rule {n.explanation.rule_id})" for n in plan.adjustments]
    return _section(f"Titration plan (rule {plan.explanation.rule_id}), starting {plan.start_date}", steps)


def _due(due_from: date, due_by: date) -> str:
    return str(due_from) if due_from == due_by else f"{due_from} to {due_by}"


# ---------------------------------------------------------------------------------------------- suggestion


def start_suggestion(a: Assessment, patient_id: str | None) -> Suggestion | None:
    """For a candidate: create the first titration step as a draft naltrexone order (a proposal)."""
    if a.decision not in ("candidate", "candidate_with_cautions") or a.plan is None or not patient_id:
        return None
    first = a.plan.steps[0]
    return Suggestion(
        label=shorten(f"Start low-dose naltrexone {first.dose_mg:g} mg {first.timing}", 80),
        uuid=str(uuid.uuid5(uuid.UUID(a.assessment_id or ""), "start-ldn")),
        actions=[
            Action(
                type="create",
                description=f"Draft order: naltrexone {first.dose_mg:g} mg {first.timing} (compounded)",
                resource=naltrexone_order(patient_id, first.dose_mg, first.timing),
            )
        ],
    )


def naltrexone_order(patient_id: str, dose_mg: float, timing: str) -> dict:
    """A draft MedicationRequest (intent proposal) for compounded naltrexone at the given dose."""
    repeat: dict = {"frequency": 1, "period": 1, "periodUnit": "d"}
    if "bedtime" in timing:
        repeat["when"] = ["HS"]
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": {
            "coding": [
                {"system": CODE_SYSTEM_URIS["RxNorm"], "code": NALTREXONE_RXNORM, "display": "naltrexone"}
            ],
            "text": f"naltrexone {dose_mg:g} mg (low-dose, compounded)",
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "dosageInstruction": [
            {
                "text": f"{dose_mg:g} mg by mouth {timing}",
                "timing": {"repeat": repeat},
                "route": {
                    "coding": [
                        {"system": CODE_SYSTEM_URIS["SNOMED-CT"], "code": "26643006", "display": "Oral route"}
                    ]
                },
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": dose_mg,
                            "unit": "mg",
                            "system": "http://unitsofmeasure.org",
                            "code": "mg",
                        }
                    }
                ],
            }
        ],
    }
