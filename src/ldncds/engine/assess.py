"""One straight line: facts -> engine facts -> findings phase -> conclusions phase -> Assessment."""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from contextvars import ContextVar, copy_context
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Literal, cast

from . import therapy as therapy_mod
from .assessment import (
    Assessment,
    Caution,
    CriterionResult,
    Disclaimer,
    DoseStep,
    EvidenceRef,
    Explanation,
    FactCitation,
    HardStop,
    MissingItem,
    MonitoringReminder,
    Note,
    TherapyStatus,
    TitrationPlan,
    built,
)
from .derive import Derived, FactRef, derive
from .facts import PatientFacts
from .loader import LoadedRule, LoadedRuleset, load_ruleset
from .matching import DurableMatcher, EngineError, Firing, OracleMatcher
from .ruleschema import (
    AdverseEffectOutcome,
    CautionOutcome,
    CriterionDef,
    CriterionOutcome,
    DecisionOutcome,
    DoseAdjustmentOutcome,
    HardStopOutcome,
    NoteOutcome,
    RecommendationOutcome,
    ReminderOutcome,
    ResponseOutcome,
    TherapyOutcome,
    TitrationOutcome,
)
from .scope import derived_in_scope, in_scope
from .vocabulary import DECISIONS

__all__ = ["Detail", "Engine", "EngineError", "default_rules_dir"]

# "full": everything a clinician and the decision log see. "decision" (population screening): the
# same decision, reason, criteria states, hard stops, cautions, earliest start, missing items and
# deciding rule, but explanations name only their rule, and the plan, reminders and counterfactuals
# are left out. Never for a clinician or the decision log.
Detail = Literal["full", "decision"]
# True inside one assess(detail="decision") call. A context variable, not an Engine attribute,
# so concurrent calls on one shared Engine cannot see each other's setting.
_BARE: ContextVar[bool] = ContextVar("ldncds_bare_assessment", default=False)


def default_rules_dir() -> Path:
    """rules/ next to the source tree (editable install), else ./rules, unless LDNCDS_RULES_DIR says."""
    if env := os.environ.get("LDNCDS_RULES_DIR"):
        return Path(env)
    beside = Path(__file__).resolve().parents[3] / "rules"
    return beside if (beside / "ruleset.yaml").is_file() else Path.cwd() / "rules"


@dataclass
class _Findings:
    criteria: list[CriterionResult]
    hard_stops: list[HardStop]
    cautions: list[Caution]
    notes: list[Note]
    caution_facts: list[dict[str, Any]]
    therapy: therapy_mod.TherapyFindings
    fired: list[str] = field(default_factory=list)


class Engine:
    """Assesses patients against one loaded ruleset. Thread-safe; compile once, reuse."""

    def __init__(
        self,
        ruleset: LoadedRuleset | str | Path | None = None,
        matcher: Literal["durable", "oracle"] = "durable",
    ) -> None:
        if not isinstance(ruleset, LoadedRuleset):
            ruleset = load_ruleset(ruleset or default_rules_dir())
        self.ruleset = ruleset
        self.matcher = DurableMatcher(ruleset) if matcher == "durable" else OracleMatcher(ruleset)
        self._static: dict[str, dict[str, Any]] = {
            rule_id: {
                "rule_id": rule_id,
                "rule_version": lr.rule.version,
                "title": lr.rule.title,
                "statement": lr.rule.statement.strip(),
                "evidence": [EvidenceRef(**e.model_dump()) for e in lr.rule.evidence],
                "rationale": lr.rule.rationale.strip(),
            }
            for rule_id, lr in ruleset.rules.items()
        }
        self._breadth = {rule_id: _breadth(lr, ruleset) for rule_id, lr in ruleset.rules.items()}
        self._bare = {
            rule_id: {k: v for k, v in static.items() if k != "evidence"}
            for rule_id, static in self._static.items()
        }
        said = ruleset.manifest.disclaimer
        self._disclaimer = Disclaimer(
            summary=" ".join(said.summary.split()),
            text=" ".join(said.text.split()),
            evidence=[EvidenceRef(**e.model_dump()) for e in said.evidence],
        )

    @property
    def version(self) -> str:
        return self.ruleset.version

    def in_scope(self, facts: PatientFacts, evaluation_date: date) -> bool:
        """The patient-view gate (see `scope.in_scope`): the same rules, so it cannot disagree."""
        return in_scope(facts, evaluation_date, self.ruleset)

    def assess_in_scope(self, facts: PatientFacts, evaluation_date: date) -> Assessment | None:
        """patient-view: the assessment of a patient in scope (`in_scope`), else None; the facts are
        derived once for both questions."""
        derived = derive(facts, evaluation_date, self.ruleset.valuesets)
        if not derived_in_scope(derived, self.ruleset):
            return None
        return self._assess_derived(derived, evaluation_date, None)

    def assess(
        self,
        facts: PatientFacts,
        evaluation_date: date,
        planned_start: date | None = None,
        *,
        detail: Detail = "full",
    ) -> Assessment:
        if detail == "decision" and not _BARE.get():
            return copy_context().run(self._assess_bare, facts, evaluation_date, planned_start)
        return self._assess_derived(
            derive(facts, evaluation_date, self.ruleset.valuesets), evaluation_date, planned_start
        )

    def _assess_derived(
        self, derived: Derived, evaluation_date: date, planned_start: date | None
    ) -> Assessment:
        first = self.matcher.run("findings", derived.facts)
        findings = self._findings(first, derived)
        second = self.matcher.run("conclusions", self._conclusion_facts(findings, derived))
        start = planned_start or evaluation_date
        return self._assemble(findings, second, derived, _Context(evaluation_date, start))

    def _assess_bare(
        self, facts: PatientFacts, evaluation_date: date, planned_start: date | None
    ) -> Assessment:
        _BARE.set(True)  # in the copied context assess() runs in: gone when it returns
        return self.assess(facts, evaluation_date, planned_start, detail="decision")

    # ------------------------------------------------------------ explanations

    def _explain(self, firing: Firing, derived: Derived, **values: Any) -> Explanation:
        if _BARE.get():  # the rule only: no fact citations, evidence or counterfactual to build
            return built(Explanation, **self._bare[firing.rule_id])
        rule = self.ruleset.rules[firing.rule_id].rule
        refs = [derived.refs[i] for i in firing.fact_ids if i in derived.refs]
        counterfactual = rule.counterfactual
        if counterfactual:
            values.setdefault("fact", refs[0].display if refs else "")
            for key, value in values.items():
                counterfactual = counterfactual.replace("{" + key + "}", str(value))
        # The rule's static parts are prepared once at start-up; only facts and counterfactual vary.
        static = self._static[rule.id]
        return built(  # every field, in the model's order: the fastest way in
            Explanation,
            rule_id=static["rule_id"],
            rule_version=static["rule_version"],
            title=static["title"],
            statement=static["statement"],
            facts=[_cite(r) for r in refs],
            evidence=list(static["evidence"]),
            rationale=static["rationale"],
            counterfactual=counterfactual.strip() if counterfactual else None,
        )

    # ------------------------------------------------------------ phase 1: findings

    def _findings(self, firings: list[Firing], derived: Derived) -> _Findings:
        by_kind: dict[type, list[tuple[Firing, LoadedRule]]] = defaultdict(list)
        for f in firings:
            lr = self.ruleset.rules[f.rule_id]
            by_kind[type(lr.rule.then)].append((f, lr))
        criteria = self._criteria(by_kind[CriterionOutcome], derived)
        hard_stops = self._hard_stops(by_kind[HardStopOutcome], derived)
        cautions, caution_facts = self._cautions(by_kind[CautionOutcome], derived)
        notes = [
            built(
                Note, text=cast(NoteOutcome, lr.rule.then).note.strip(), explanation=self._explain(f, derived)
            )
            for f, lr in by_kind[NoteOutcome]
        ]
        therapy_fired = [item for kind in THERAPY_OUTCOMES for item in by_kind[kind]]
        therapy = therapy_mod.collect(sorted(therapy_fired, key=lambda i: i[0]), derived, self._explain)
        fired = [f.rule_id for f in firings]
        return _Findings(criteria, hard_stops, cautions, notes, caution_facts, therapy, fired)

    def _criteria(self, fired: list[tuple[Firing, LoadedRule]], derived: Derived) -> list[CriterionResult]:
        per: dict[str, list[tuple[Firing, CriterionOutcome]]] = defaultdict(list)
        for f, lr in fired:
            then = cast(CriterionOutcome, lr.rule.then)  # _findings grouped the firings by outcome type
            per[then.criterion].append((f, then))
        met_pathways = {
            o.pathway for items in per.values() for _, o in items if o.status == "met" and o.pathway
        }
        return [
            self._criterion(c, per.get(c.id, []), met_pathways, derived)
            for c in self.ruleset.criteria.values()
        ]

    def _criterion(
        self,
        crit: CriterionDef,
        items: list[tuple[Firing, CriterionOutcome]],
        met_pathways: set[str],
        derived: Derived,
    ) -> CriterionResult:
        if crit.applies_to_pathways and met_pathways and not met_pathways <= set(crit.applies_to_pathways):
            basis = f"Not needed on the {', '.join(sorted(met_pathways))} pathway."
            return _criterion_result(crit, "not_applicable", basis)
        if not items:
            return _criterion_result(
                crit,
                crit.default,
                "No record answered this question, so the default applies.",
                missing=crit.default_missing if crit.default == "unknown" else None,
                to_change=crit.to_change if crit.default != "met" else None,
            )
        status = next(s for s in crit.precedence if any(o.status == s for _, o in items))
        winners = [(f, o) for f, o in items if o.status == status]
        missing = "; ".join(dict.fromkeys(o.missing for _, o in winners if o.missing)) or crit.default_missing
        return _criterion_result(
            crit,
            status,
            self.ruleset.rules[winners[0][0].rule_id].rule.title,
            missing=missing if status == "unknown" else None,
            to_change=crit.to_change if status != "met" else None,
            pathways=sorted({o.pathway for _, o in winners if o.pathway}),
            explanations=[self._explain(f, derived) for f, _ in winners],
        )

    def _hard_stops(self, fired: list[tuple[Firing, LoadedRule]], derived: Derived) -> list[HardStop]:
        groups: dict[tuple[str, str], list[tuple[Firing, HardStopOutcome]]] = defaultdict(list)
        for f, lr in fired:
            then = cast(HardStopOutcome, lr.rule.then)  # _findings grouped the firings by outcome type
            groups[(then.hard_stop, f.fact_ids[0])].append((f, then))
        out = []
        for (stop_id, fact_id), items in sorted(groups.items()):
            ref = derived.refs[fact_id]
            earliest = None
            if all(o.washout_days for _, o in items) and ref.end_date:
                end = date.fromisoformat(ref.end_date)
                earliest = max(end + timedelta(days=o.washout_days or 0) for _, o in items)
            out.append(
                built(
                    HardStop,
                    id=stop_id,
                    title=self.ruleset.hard_stops[stop_id].title,
                    culprit=_cite(ref),
                    earliest_start=earliest,
                    explanations=[self._explain(f, derived, earliest_start=earliest or "") for f, _ in items],
                )
            )
        return out

    def _cautions(
        self, fired: list[tuple[Firing, LoadedRule]], derived: Derived
    ) -> tuple[list[Caution], list[dict[str, Any]]]:
        groups: dict[str, list[tuple[Firing, CautionOutcome]]] = defaultdict(list)
        for f, lr in fired:
            then = cast(CautionOutcome, lr.rule.then)  # _findings grouped the firings by outcome type
            groups[then.caution].append((f, then))
        cautions, facts = [], []
        for caution_id, items in sorted(groups.items()):
            refs = [derived.refs[f.fact_ids[0]] for f, _ in items]
            alerts = [o.alert for _, o in items if o.alert]
            cautions.append(
                built(
                    Caution,
                    id=caution_id,
                    title=self.ruleset.cautions[caution_id].title,
                    culprits=[_cite(r) for r in dict.fromkeys(refs)],
                    alert=alerts[0] if alerts else None,
                    explanations=[self._explain(f, derived) for f, _ in items],
                )
            )
            events = sorted(r.event_date for r in refs if r.event_date)
            facts.append(
                {"kind": "caution", "id": f"caution:{caution_id}", "caution": caution_id}
                | ({"event_date": events[0]} if events else {})
            )
        return cautions, facts

    # ------------------------------------------------------------ phase 2: conclusions

    def _conclusion_facts(self, findings: _Findings, derived: Derived) -> list[dict[str, Any]]:
        required = [c for c in findings.criteria if c.required]
        summary = {
            "kind": "summary",
            "id": "summary",
            "hard_stops": len(findings.hard_stops),
            "not_met": sum(c.status == "not_met" for c in required),
            "unknown": sum(c.status == "unknown" for c in required),
            "cautions": len(findings.cautions),
            "on_therapy": int(findings.therapy.on_ldn is not None),
        }
        patient = next(f for f in derived.facts if f["kind"] == "patient")
        cautions = [{k: v for k, v in c.items() if k != "event_date"} for c in findings.caution_facts]
        extra = [findings.therapy.summary_fact()] if findings.therapy.on_ldn is not None else []
        return [summary, patient, *cautions, *extra]

    def _assemble(
        self, findings: _Findings, firings: list[Firing], derived: Derived, ctx: _Context
    ) -> Assessment:
        refs = derived.refs | _CONCLUSION_REFS
        for c in findings.caution_facts:
            refs[c["id"]] = FactRef(
                c["id"], "caution", "assessment", c["caution"], event_date=c.get("event_date")
            )
        refs.update(_DECISION_REFS)
        conclusions = replace(derived, refs=refs)
        decisions = [f for f in firings if isinstance(self._then(f), DecisionOutcome)]
        if len(decisions) != 1:
            # The decision rules must be exclusive and complete; anything else is an error, not advice.
            raise EngineError(f"expected exactly one decision rule to fire, got {len(decisions)}")
        decision = self._then(decisions[0]).decision
        therapy = self._therapy(decision, findings, firings, conclusions, ctx)
        earliest = None
        if findings.hard_stops and all(h.earliest_start for h in findings.hard_stops):
            earliest = max(h.earliest_start for h in findings.hard_stops if h.earliest_start)
        explanation = self._explain(decisions[0], conclusions)
        explanation.facts = _decision_facts(decision, findings)
        missing, also_missing = _missing(decision, findings, self.ruleset.criteria)
        return Assessment(
            decision=decision,
            reason=_reason(decision, findings, earliest, therapy, missing),
            evaluation_date=ctx.on,
            ruleset_version=self.ruleset.version,
            earliest_start=earliest,
            criteria=findings.criteria,
            hard_stops=findings.hard_stops,
            cautions=findings.cautions,
            notes=findings.notes,
            alerts=[c.alert for c in findings.cautions if c.alert],
            plan=self._plan(firings, conclusions, ctx.start),
            therapy=therapy,
            reminders=self._reminders(firings, conclusions, ctx, therapy),
            missing=missing,
            also_missing=also_missing,
            counterfactuals=_counterfactuals(decision, findings, self.ruleset.criteria, self._breadth),
            data_notes=list(derived.notes),
            disclaimer=self._disclaimer,
            explanation=explanation,
            rules_fired=sorted(set(findings.fired) | {f.rule_id for f in firings}),
        )

    def _therapy(
        self, decision: str, findings: _Findings, firings: list[Firing], derived: Derived, ctx: _Context
    ) -> TherapyStatus | None:
        if findings.therapy.on_ldn is None:
            return None
        recs = [(f, self._then(f)) for f in firings if isinstance(self._then(f), RecommendationOutcome)]
        if len(recs) > 1:
            raise EngineError("more than one response recommendation applies")
        return therapy_mod.status(
            findings.therapy,
            recs[0] if recs else None,
            derived,
            self._explain,
            self.ruleset,
            ctx.on,
        )

    def _then(self, firing: Firing) -> Any:
        return self.ruleset.rules[firing.rule_id].rule.then

    def _plan(self, firings: list[Firing], derived: Derived, start: date) -> TitrationPlan | None:
        plans = [f for f in firings if isinstance(self._then(f), TitrationOutcome)]
        if not plans:
            return None
        if len({f.rule_id for f in plans}) > 1:
            raise EngineError("more than one titration plan applies")
        if _BARE.get():  # checked above like a full assessment, but not built
            return None
        then: TitrationOutcome = self._then(plans[0])
        steps = [
            DoseStep(
                dose_mg=s.dose_mg,
                timing=s.timing,
                from_week=s.from_week,
                to_week=s.to_week,
                starts_on=start + timedelta(weeks=s.from_week),
                above_flag=s.dose_mg > then.flag_above_mg,
            )
            for s in then.steps
        ]
        adjustments = [
            built(Note, text=self._then(f).dose_adjustment, explanation=self._explain(f, derived))
            for f in firings
            if isinstance(self._then(f), DoseAdjustmentOutcome)
        ]
        return TitrationPlan(
            id=then.titration,
            start_date=start,
            steps=steps,
            target_mg=steps[-1].dose_mg,
            flag_above_mg=then.flag_above_mg,
            flagged=any(s.above_flag for s in steps),
            adjustments=adjustments,
            explanation=self._explain(plans[0], derived),
        )

    def _reminders(
        self, firings: list[Firing], derived: Derived, ctx: _Context, therapy: TherapyStatus | None
    ) -> list[MonitoringReminder]:
        if _BARE.get():
            return []
        out = []
        for f in firings:
            then = self._then(f)
            if not isinstance(then, ReminderOutcome):
                continue
            anchor = therapy.start_date if then.due.anchor == "therapy_start" and therapy else ctx.start
            if then.due.anchor == "event":
                events = [d for i in f.fact_ids if (d := derived.refs[i].event_date)]
                if not events:
                    continue  # no date to count from; the caution itself still says what to do
                anchor = date.fromisoformat(events[0])
            due_from = anchor + timedelta(days=then.due.from_days)
            due_by = anchor + timedelta(days=then.due.to_days)
            done = _done_by(then, derived, due_from, due_by)
            state = _state(ctx.on, due_from, due_by, done is not None)
            out.append(
                built(
                    MonitoringReminder,
                    id=then.reminder,
                    what=then.what.strip(),
                    due_from=due_from,
                    due_by=due_by,
                    state=state,
                    days_overdue=(ctx.on - due_by).days if state == "overdue" else None,
                    done_by=done,
                    explanation=self._explain(f, derived),
                )
            )
        return sorted(out, key=lambda r: (r.due_from, r.id))


# The conclusions phase's own facts, the same for every patient (FactRef is frozen).
_CONCLUSION_REFS = {
    fact_id: FactRef(fact_id, kind, "assessment", label)
    for fact_id, kind, label in (
        ("summary", "summary", "combined findings"),
        ("response_summary", "response", "response to therapy"),
    )
}
_DECISION_REFS = {
    f"decision:{value}": FactRef(f"decision:{value}", "decision", "assessment", value) for value in DECISIONS
}


@dataclass(frozen=True)
class _Context:
    on: date
    start: date


def _criterion_result(
    crit: CriterionDef,
    status: str,
    basis: str,
    *,
    missing: str | None = None,
    to_change: str | None = None,
    pathways: list[str] | None = None,
    explanations: list[Explanation] | None = None,
) -> CriterionResult:
    return built(
        CriterionResult,
        id=crit.id,
        title=crit.title,
        question=crit.question,
        status=status,
        required=crit.required,
        basis=basis,
        missing=missing,
        to_change=to_change,
        pathways=pathways if pathways is not None else [],
        explanations=explanations if explanations is not None else [],
    )


def _cite(ref: FactRef) -> FactCitation:
    """`ref.cite()`, built without validating again when every value already has its declared type."""
    if (
        type(ref.source) is str
        and type(ref.kind) is str
        and type(ref.display) is str
        and (ref.date is None or type(ref.date) is str)
        and (ref.detail is None or type(ref.detail) is str)
    ):
        return built(
            FactCitation,
            source=ref.source,
            kind=ref.kind,
            display=ref.display,
            date=ref.date,
            detail=ref.detail,
        )
    return ref.cite()


def _done_by(then: ReminderOutcome, derived: Derived, due_from: date, due_by: date) -> FactCitation | None:
    """The result showing a reminder was done: one of its value set, dated in its window (with grace)."""
    if not then.done_when:
        return None
    grace = timedelta(days=then.due.grace_days)
    for day, value, source in reversed(derived.results_in(then.done_when)):
        if due_from - grace <= day <= due_by + grace:
            shown = f"{value:g}" if value is not None else "recorded"
            return built(
                FactCitation,
                source=source,
                kind="observation",
                display=f"{then.done_when}: {shown}",
                date=day.isoformat(),
                detail=None,
            )
    return None


THERAPY_OUTCOMES = (TherapyOutcome, ResponseOutcome, AdverseEffectOutcome)
# Two "what would change" bullets this alike say the same thing (e.g. a coded and a text-matched rule
# for one record); a wording measure, not a clinical number.
NEAR_REPEAT = 0.85


def _state(
    on: date, due_from: date, due_by: date, done: bool
) -> Literal["upcoming", "due", "overdue", "done"]:
    if done:
        return "done"
    if on < due_from:
        return "upcoming"
    return "due" if on <= due_by else "overdue"


def _decision_facts(decision: str, findings: _Findings) -> list[FactCitation]:
    if decision == "contraindicated":
        return [h.culprit for h in findings.hard_stops]
    if decision == "candidate_with_cautions":
        return [c for caution in findings.cautions for c in caution.culprits]
    wanted = {"not_candidate": "not_met", "insufficient_information": "unknown"}.get(decision, "met")
    return [f for c in findings.criteria if c.status == wanted for e in c.explanations for f in e.facts]


def _reason(
    decision: str,
    findings: _Findings,
    earliest: date | None,
    therapy: TherapyStatus | None,
    missing: list[MissingItem],
) -> str:
    if decision == "on_therapy" and therapy:
        dose = (
            f"{therapy.daily_dose_mg:g} mg/day" if therapy.daily_dose_mg is not None else "dose not recorded"
        )
        response = (therapy.response_status or "response not assessed").replace("_", " ")
        return f"On LDN {dose}, week {therapy.weeks_on_therapy}: {response}"
    if decision == "contraindicated":
        titles = ", ".join(dict.fromkeys(h.title.lower() for h in findings.hard_stops))
        text = f"Contraindicated: {titles} ({findings.hard_stops[0].culprit.display})"
        return text + (f"; earliest start {earliest.isoformat()}" if earliest else "")
    if decision == "not_candidate":
        unmet = [c.title.lower() for c in findings.criteria if c.status == "not_met" and c.required]
        return "Not a candidate: not met: " + ", ".join(unmet)
    if decision == "insufficient_information":
        decisive = {m.criterion for m in missing}  # what the decision turns on, not what is also missing
        unknown = [c.title.lower() for c in findings.criteria if c.id in decisive]
        return "Insufficient information: unknown: " + ", ".join(unknown)
    if decision == "candidate_with_cautions":
        return "Candidate with cautions: " + ", ".join(c.title.lower() for c in findings.cautions)
    return "Candidate: every criterion met, no hard stop or caution found"


def _pathways(findings: _Findings) -> set[str]:
    return {p for c in findings.criteria if c.status == "met" for p in c.pathways}


def _missing(
    decision: str, findings: _Findings, defs: dict[str, CriterionDef]
) -> tuple[list[MissingItem], list[MissingItem]]:
    """What this decision turns on, and, apart, what is also unknown but would not change it.

    Only `insufficient_information` turns on its unknowns; behind a hard stop or a criterion not met
    they are for later. A criterion of a pathway that is not established yet (e.g. the injection
    of the radicular pathway while the diagnosis is unknown) is never what the decision turns on.
    """
    if decision == "on_therapy":
        return [], []  # follow-up, not candidacy: the candidacy criteria are not the question
    later = {
        "contraindicated": "Needed only once the hard stop is lifted.",
        "not_candidate": "Would not change this decision: a required criterion is not met.",
    }.get(decision)
    pathways = _pathways(findings)
    missing, also = [], []
    for c in findings.criteria:
        if c.status != "unknown" or not c.required:
            continue
        what = c.missing or c.question
        applies = defs[c.id].applies_to_pathways
        if applies and not pathways & set(applies):
            note = f"Needed only on the {' or '.join(applies)} pathway, once the diagnosis is established."
            also.append(built(MissingItem, criterion=c.id, what=what, note=note))
        elif later:
            also.append(built(MissingItem, criterion=c.id, what=what, note=later))
        else:
            missing.append(built(MissingItem, criterion=c.id, what=what, note=None))
    if decision == "insufficient_information" and not missing:
        # Never an answer of "information missing" that names nothing missing.
        return [built(MissingItem, criterion=m.criterion, what=m.what, note=None) for m in also], []
    return missing, also


def _counterfactuals(
    decision: str, findings: _Findings, defs: dict[str, CriterionDef], breadth: dict[str, int]
) -> list[str]:
    """What would change the decision, what matters most first, each way out said once.

    One entry per record (hard stops), criterion or caution, near-repeats within it dropped; across
    entries only texts that read the same once case and punctuation are set aside (two washouts
    ending on different days differ, and must both be said).
    """
    if _BARE.get():
        return []
    return _said_once(_ways_out(decision, findings, defs, breadth))


def _ways_out(
    decision: str, findings: _Findings, defs: dict[str, CriterionDef], breadth: dict[str, int]
) -> list[list[str]]:
    """The ways out of this decision, one list per record, criterion or caution behind it."""
    if decision == "contraindicated":
        return _hard_stop_ways_out(findings.hard_stops, breadth)
    if decision == "not_candidate":
        return _unmet_ways_out(findings)
    if decision == "insufficient_information":
        return _unknown_ways_out(findings, defs)
    if decision == "candidate_with_cautions":
        return [_caution_ways_out(caution) for caution in findings.cautions]
    return []  # a candidate, or on therapy: no decision against the patient to change


def _unmet_ways_out(findings: _Findings) -> list[list[str]]:
    """Every required criterion not met: all must be met, so each is a way out to say."""
    return [_criterion_ways_out(c) for c in findings.criteria if c.status == "not_met" and c.required]


def _unknown_ways_out(findings: _Findings, defs: dict[str, CriterionDef]) -> list[list[str]]:
    """Only the unknowns the decision turns on (`_missing`): answering the others would not change it."""
    decisive = {m.criterion for m in _missing("insufficient_information", findings, defs)[0]}
    return [
        _criterion_ways_out(c)
        for c in findings.criteria
        if c.status == "unknown" and c.required and c.id in decisive
    ]


def _criterion_ways_out(criterion: CriterionResult) -> list[str]:
    """The deciding rules' own wording, else the criterion's general advice, else its question."""
    return _rule_ways_out(criterion.explanations) or [criterion.to_change or f"Answer: {criterion.question}"]


def _caution_ways_out(caution: Caution) -> list[str]:
    """The caution's rules' own wording, else a general sentence naming the caution."""
    return _rule_ways_out(caution.explanations) or [
        f"A plain candidate only without: {caution.title.lower()} (its precautions apply)."
    ]


def _rule_ways_out(explanations: list[Explanation]) -> list[str]:
    """The rules' counterfactuals in order; a near-repeat (a coded and a text match) said once."""
    return _distinct([e.counterfactual for e in explanations if e.counterfactual])


def _said_once(ways_out: list[list[str]]) -> list[str]:
    """All ways out in order, a repeat (same words once normalised) kept at its first place.

    The dict keeps the first position but the last wording of a repeat.
    """
    return list({_normal(t): t for item in ways_out for t in item}.values())


def _hard_stop_ways_out(hard_stops: list[HardStop], breadth: dict[str, int]) -> list[list[str]]:
    """One way out per record: every hard stop on it must be lifted, so their texts are joined.

    Several rules behind one hard stop on one record (a coded and a text match) describe the same way
    out; the first rule's is kept. Hard stops on one record are said together, so two bullets about
    the same medication cannot read as alternatives: the most specific first (the rule matched the
    narrower code list, e.g. opioid maintenance before any opioid agonist), a washout (a date) last.
    """
    per_record: dict[str, list[tuple[bool, int, str]]] = {}
    for h in hard_stops:
        first = next((e for e in h.explanations if e.counterfactual), None)
        if first and first.counterfactual:
            key = (h.earliest_start is not None, breadth.get(first.rule_id, 0), first.counterfactual)
            per_record.setdefault(h.culprit.source, []).append(key)
    return [
        [" Also: ".join(_distinct([t for *_, t in sorted(items, key=lambda i: i[:2])]))]
        for items in per_record.values()
    ]


def _breadth(lr: LoadedRule, ruleset: LoadedRuleset) -> int:
    """How many code-list rows a rule matches against: the fewer, the more specific its finding."""
    names: set[str] = set()
    for pattern in lr.rule.when:
        for key in ("value_set", "text_value_set"):
            value = pattern.where.get(key)
            if isinstance(value, str):
                names.add(value)
            elif isinstance(value, dict):
                names.update(v for v in value.get("any_of", ()) if isinstance(v, str))
    rows = sum(len(ruleset.valuesets.rows.get(n, ())) for n in names)
    return rows if names else sys.maxsize


def _normal(text: str) -> str:
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def _distinct(texts: list[str]) -> list[str]:
    """Texts in order, without repeats or near-repeats (same words, or nearly the same sentence)."""
    kept: list[str] = []
    for text in texts:
        norm = _normal(text)
        if any(_similar(norm, _normal(k)) for k in kept):
            continue
        kept.append(text)
    return kept


def _similar(a: str, b: str) -> bool:
    return a == b or a in b or b in a or SequenceMatcher(None, a, b).ratio() >= NEAR_REPEAT
