"""View model of the assessment page: an Assessment turned into plain dicts for the template.

Kept apart from the router so it can be tested without HTTP. Nothing here marks text as safe:
patient-derived strings (condition and medication names, details) reach the template as plain
strings and are escaped there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from ldncds.engine import (
    Assessment,
    CriterionResult,
    DataNote,
    Explanation,
    FactCitation,
    InstrumentResponse,
    MonitoringReminder,
    ResultPoint,
)

from .render import STYLESHEET, render
from .svg import due_text, response_chart, timeline_svg
from .words import (
    DECISION_MEANINGS,
    OVERALL_RESPONSE_LABELS,
    REMINDER_STATES,
    RESPONSE_LABELS,
    decision_label,
    evidence_link,
    label_of,
    rule_anchor,
    status_label,
)

_PATIENT_SOURCE = re.compile(r"^Patient(?:/\S*)?")
RuleLink = Callable[[Explanation], dict[str, str]]  # an explanation -> its rule id and rulebook link


def page_title(assessment_id: str) -> str:
    # The assessment id is the only identifier a title or URL may carry.
    return f"LDN assessment {assessment_id} — ldncds"


def render_assessment(
    assessment: Assessment,
    assessment_id: str,
    *,
    rulebook_href: str = "../rulebook",
    css_href: str = f"../static/{STYLESHEET}",
    recorded_at: datetime | None = None,
    channel: str | None = None,
) -> str:
    """The whole assessment page as HTML."""
    view = assessment_view(assessment, assessment_id, rulebook_href=rulebook_href)
    view["recorded_at"] = recorded_at.isoformat(timespec="seconds") if recorded_at else None
    view["channel"] = channel
    return render(
        "assessment.html",
        page=view,
        title=page_title(assessment_id),
        css_href=css_href,
        rulebook_href=rulebook_href,
    )


def assessment_view(
    a: Assessment, assessment_id: str, *, rulebook_href: str = "../rulebook"
) -> dict[str, Any]:
    def rule(e: Explanation) -> dict[str, str]:
        return {
            "id": e.rule_id,
            "version": e.rule_version,
            "title": e.title,
            "href": f"{rulebook_href}#{rule_anchor(e.rule_id)}",
        }

    start = a.therapy.start_date if a.therapy else a.plan.start_date if a.plan else a.evaluation_date
    return {
        "assessment_id": assessment_id,
        "decision": a.decision,
        "decision_label": decision_label(a.decision),
        "meaning": DECISION_MEANINGS.get(a.decision, ""),
        "reason": a.reason,
        "evaluation_date": a.evaluation_date.isoformat(),
        "ruleset_version": a.ruleset_version,
        "earliest_start": a.earliest_start.isoformat() if a.earliest_start else None,
        "decided_by": rule(a.explanation),
        "alerts": list(a.alerts),
        "criteria": [_criterion(c, rule) for c in a.criteria],
        "hard_stops": [
            {
                "title": h.title,
                "culprit": cite(h.culprit),
                "earliest_start": h.earliest_start.isoformat() if h.earliest_start else None,
                "rules": [rule(e) for e in h.explanations],
            }
            for h in a.hard_stops
        ],
        "cautions": [
            {
                "title": c.title,
                "culprits": [cite(f) for f in c.culprits],
                "alert": c.alert,
                "rules": [rule(e) for e in c.explanations],
            }
            for c in a.cautions
        ],
        "disclaimer": _disclaimer(a),
        "data_notes": _data_notes(a),
        "notes": [
            {"text": n.text, "facts": [cite(f) for f in n.explanation.facts], "rule": rule(n.explanation)}
            for n in a.notes
        ],
        "missing": _missing(a),
        "also_missing": _missing(a, also=True),
        "counterfactuals": list(a.counterfactuals),
        "plan": _plan(a, rule),
        "reminders": [_reminder(r, rule) for r in a.reminders],
        "therapy": _therapy(a, rule),
        "timeline": timeline_svg(
            a.plan, a.reminders, start, started=a.therapy is not None, today=a.evaluation_date
        ),
        "evidence": _evidence(a, rule),
        "rules_fired": [{"id": r, "href": f"{rulebook_href}#{rule_anchor(r)}"} for r in a.rules_fired],
    }


def cite(f: FactCitation) -> dict[str, str | None]:
    """A fact as the page shows it. The patient's own id and birth date stay off the page: the age
    (in `display`) is what the rules used, and the EHR already shows the rest."""
    if f.kind == "patient":
        return {
            "display": f.display,
            "detail": None,
            "source": _PATIENT_SOURCE.sub("Patient", f.source),
            "date": None,
        }
    return {
        "display": f.display,
        "detail": f.detail,
        "source": _PATIENT_SOURCE.sub("Patient", f.source),
        "date": f.date,
    }


def _criterion(c: CriterionResult, rule: RuleLink) -> dict[str, Any]:
    facts = [dict(cite(f), rule=rule(e)) for e in c.explanations for f in e.facts]
    factless = [rule(e) for e in c.explanations if not e.facts]
    return {
        "id": c.id,
        "title": c.title,
        "question": c.question,
        "required": c.required,
        "status": c.status,
        "status_label": status_label(c.status),
        "basis": c.basis,
        "missing": c.missing,
        "pathways": list(c.pathways),
        "facts": facts,
        "factless_rules": factless,
        "rows": max(len(facts) + (1 if factless else 0), 1),
    }


def _missing(a: Assessment, *, also: bool = False) -> list[dict[str, str | None]]:
    """What this decision turns on, or (also) what is unknown too but would not change it."""
    titles = {c.id: c.title for c in a.criteria}
    return [
        {"criterion": titles.get(m.criterion, m.criterion), "what": m.what, "note": m.note}
        for m in (a.also_missing if also else a.missing)
    ]


def _disclaimer(a: Assessment) -> dict[str, Any] | None:
    """The ruleset's own words on off-label use and evidence (older records may lack them)."""
    if a.disclaimer is None:
        return None
    return {
        "summary": a.disclaimer.summary,
        "text": a.disclaimer.text,
        "evidence": [evidence_link(e) for e in a.disclaimer.evidence],
    }


def _data_notes(a: Assessment) -> dict[str, list[dict[str, str | None]]]:
    """Records that could not be read (the answer was made without them) and those read with a caveat."""

    def row(n: DataNote) -> dict[str, str | None]:
        return {"source": _PATIENT_SOURCE.sub("Patient", n.source), "section": n.section, "reason": n.reason}

    return {
        "unreadable": [row(n) for n in a.data_notes if n.severity == "unreadable"],
        "caveats": [row(n) for n in a.data_notes if n.severity != "unreadable"],
    }


def _plan(a: Assessment, rule: RuleLink) -> dict[str, Any] | None:
    if a.plan is None:
        return None
    p = a.plan
    return {
        "start_date": p.start_date.isoformat(),
        "target_mg": f"{p.target_mg:g}",
        "flag_above_mg": f"{p.flag_above_mg:g}",
        "flagged": p.flagged,
        "steps": [
            {
                "dose": f"{s.dose_mg:g} mg",
                "timing": s.timing,
                "starts_on": s.starts_on.isoformat(),
                "weeks": f"week {s.from_week}"
                + (f" to {s.to_week}" if s.to_week is not None else " onwards"),
                "above_flag": s.above_flag,
            }
            for s in p.steps
        ],
        "adjustments": [{"text": n.text, "rule": rule(n.explanation)} for n in p.adjustments],
        "rule": rule(p.explanation),
    }


def _reminder(r: MonitoringReminder, rule: RuleLink) -> dict[str, Any]:
    state = label_of(REMINDER_STATES, r.state)
    if r.state == "overdue" and r.days_overdue:
        state += f" by {r.days_overdue} days"
    return {
        "title": r.explanation.title,
        "what": r.what,
        "due": due_text(r),
        "state": r.state,
        "state_label": state,
        "done_by": cite(r.done_by) if r.done_by else None,
        "rule": rule(r.explanation),
    }


def _therapy(a: Assessment, rule: RuleLink) -> dict[str, Any] | None:
    """A patient already on LDN: dose, time on it, response per outcome measure, adverse effects."""
    t = a.therapy
    if t is None:
        return None
    return {
        "source": _PATIENT_SOURCE.sub("Patient", t.source),
        "dose": f"{t.daily_dose_mg:g} mg a day" if t.daily_dose_mg is not None else "dose not recorded",
        "start_date": t.start_date.isoformat(),
        "dose_since": t.dose_since.isoformat() if t.dose_since else None,
        "weeks": t.weeks_on_therapy,
        "response": t.response_status,
        "response_label": label_of(OVERALL_RESPONSE_LABELS, t.response_status) if t.response_status else None,
        "recommendation": t.recommendation,
        "rule": rule(t.explanation),
        "recommendation_rule": rule(t.recommendation_explanation) if t.recommendation_explanation else None,
        "instruments": [_instrument(i, t.start_date, rule) for i in t.instruments],
        "adverse_effects": [
            {
                "effect": e.id.replace("_", " "),
                "action": e.action,
                "serious": e.serious,
                "culprit": cite(e.culprit),
                "rule": rule(e.explanation),
            }
            for e in t.adverse_effects
        ],
    }


def _instrument(i: InstrumentResponse, start: date, rule: RuleLink) -> dict[str, Any]:
    def point(p: ResultPoint | None) -> str:
        return f"{p.value:g} on {p.date.isoformat()}" if p else "—"

    change = [
        f"{i.change_abs:+g} points" if i.change_abs is not None else "",
        f"{i.change_pct:+g} %" if i.change_pct is not None else "",
    ]
    return {
        "name": i.instrument.replace("_", " "),
        "status": i.status,
        "status_label": label_of(RESPONSE_LABELS, i.status),
        "baseline": point(i.baseline),
        "latest": point(i.latest),
        "change": ", ".join(c for c in change if c) or "—",
        "thresholds": [f"{t.label}: {t.value:g} or lower" for t in i.thresholds],
        "rules": [rule(e) for e in i.explanations],
        "chart": response_chart(
            i, start, svg_id=f"response-{re.sub(r'[^a-z0-9_-]', '', i.instrument.lower())}"
        ),
    }


def _explanations(a: Assessment) -> list[Explanation]:
    out = [e for c in a.criteria for e in c.explanations]
    out += [e for h in a.hard_stops for e in h.explanations]
    out += [e for c in a.cautions for e in c.explanations]
    out += [n.explanation for n in a.notes]
    if a.plan:
        out += [a.plan.explanation, *(n.explanation for n in a.plan.adjustments)]
    if a.therapy:
        t = a.therapy
        out += [t.explanation, *([t.recommendation_explanation] if t.recommendation_explanation else [])]
        out += [e for i in t.instruments for e in i.explanations] + [e.explanation for e in t.adverse_effects]
    out += [r.explanation for r in a.reminders]
    return [a.explanation, *out]


def _evidence(a: Assessment, rule: RuleLink) -> list[dict[str, Any]]:
    """Every source the rules behind this assessment cite, once each, with the rules citing it."""
    by_citation: dict[str, dict[str, Any]] = {}
    for e in _explanations(a):
        for ev in e.evidence:
            item = by_citation.setdefault(ev.citation, dict(evidence_link(ev), rules=[]))
            if all(r["id"] != e.rule_id for r in item["rules"]):
                item["rules"].append(rule(e))
    return list(by_citation.values())
