"""On-therapy follow-up: combine the therapy rules' firings into a TherapyStatus.

The rules (rules/therapy.yaml, rules/follow_up.yaml) decide; this module only gathers their
firings per instrument, attaches the measured series and reads the response thresholds back out
of the rules themselves, so the picture shows exactly what the rules test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .assessment import AdverseEffect, Explanation, InstrumentResponse, ResultPoint, TherapyStatus, Threshold
from .derive import Derived
from .loader import LoadedRule, LoadedRuleset
from .matching import Firing
from .ruleschema import AdverseEffectOutcome, RecommendationOutcome, ResponseOutcome, TherapyOutcome
from .vocabulary import INSTRUMENT_PREFIX

# Which status wins for one instrument when several rules fire: a measured answer beats a gap.
STATUS_ORDER = ("substantial", "important", "not_important", "no_baseline", "not_measured", "too_early")
Explain = Callable[[Firing, Derived], Explanation]


@dataclass
class TherapyFindings:
    on_ldn: Explanation | None = None
    statuses: dict[str, list[tuple[Firing, str]]] = field(default_factory=dict)
    adverse_effects: list[AdverseEffect] = field(default_factory=list)

    def status_of(self, instrument: str) -> str:
        found = {s for _, s in self.statuses.get(instrument, [])}
        return next(s for s in STATUS_ORDER if s in found)

    def summary_fact(self) -> dict[str, Any]:
        statuses = [self.status_of(i) for i in self.statuses]
        return {
            "kind": "response_summary",
            "id": "response_summary",
            "evaluated": sum(s in ("substantial", "important", "not_important") for s in statuses),
            "important": sum(s in ("substantial", "important") for s in statuses),
            "substantial": sum(s == "substantial" for s in statuses),
            "too_early": int("too_early" in statuses),
            "no_baseline": int("no_baseline" in statuses),
            "not_measured": int("not_measured" in statuses),
        }


def collect(fired: list[tuple[Firing, LoadedRule]], derived: Derived, explain: Explain) -> TherapyFindings:
    out = TherapyFindings()
    for f, lr in fired:
        then = lr.rule.then
        if isinstance(then, TherapyOutcome) and out.on_ldn is None:
            out.on_ldn = explain(f, derived)
        elif isinstance(then, ResponseOutcome):
            instrument = f.fact_ids[0].removeprefix("response:")
            out.statuses.setdefault(instrument, []).append((f, then.response))
        elif isinstance(then, AdverseEffectOutcome):
            ref = derived.refs[f.fact_ids[-1]]
            out.adverse_effects.append(
                AdverseEffect(
                    id=then.adverse_effect,
                    action=then.action.strip(),
                    serious=then.serious,
                    culprit=ref.cite(),
                    explanation=explain(f, derived),
                )
            )
    out.adverse_effects.sort(key=lambda a: (not a.serious, a.id))
    return out


def status(
    findings: TherapyFindings,
    recommendation: tuple[Firing, RecommendationOutcome] | None,
    derived: Derived,
    explain: Explain,
    ruleset: LoadedRuleset,
    on: date,
) -> TherapyStatus:
    ref = derived.refs["therapy"]
    therapy = next(f for f in derived.facts if f["kind"] == "therapy")
    start = date.fromisoformat(ref.date or on.isoformat())
    dose_days = therapy.get("days_at_current_dose")
    instruments = [
        _instrument(name, findings, derived, explain, ruleset, start) for name in sorted(findings.statuses)
    ]
    rec_firing, rec = recommendation if recommendation else (None, None)
    return TherapyStatus(
        source=ref.source,
        daily_dose_mg=therapy.get("daily_dose_mg"),
        start_date=start,
        dose_since=on.fromordinal(on.toordinal() - dose_days) if dose_days is not None else None,
        weeks_on_therapy=therapy["days_on_therapy"] // 7,
        response_status=rec.response_status if rec else None,
        recommendation=rec.recommendation.strip() if rec else None,
        instruments=instruments,
        adverse_effects=findings.adverse_effects,
        explanation=findings.on_ldn,  # type: ignore[arg-type]
        recommendation_explanation=explain(rec_firing, derived) if rec_firing else None,
    )


def _instrument(
    name: str,
    findings: TherapyFindings,
    derived: Derived,
    explain: Explain,
    ruleset: LoadedRuleset,
    start: date,
) -> InstrumentResponse:
    response = next(f for f in derived.facts if f["id"] == f"response:{name}")
    series = [ResultPoint(date=p.date, value=p.value, source=p.source) for p in derived.series(name)]
    before = [p for p in series if p.date <= start]
    after = [p for p in series if p.date > start]
    baseline = before[-1] if response.get("baseline_known") else None
    current = findings.status_of(name)
    return InstrumentResponse(
        instrument=name.removeprefix(INSTRUMENT_PREFIX),
        status=current,  # type: ignore[arg-type]
        baseline=baseline,
        latest=after[-1] if after else None,
        change_abs=response.get("change_abs"),
        change_pct=response.get("change_pct"),
        series=series,
        thresholds=thresholds(ruleset, name, baseline.value) if baseline else [],
        explanations=[explain(f, derived) for f, s in findings.statuses[name] if s == current],
    )


def thresholds(ruleset: LoadedRuleset, instrument: str, baseline: float) -> list[Threshold]:
    """The values a follow-up result must reach to count as a response, read from the rules' own tests."""
    out: dict[str, float] = {}
    for lr in ruleset.rules.values():
        then = lr.rule.then
        if not isinstance(then, ResponseOutcome) or then.response not in ("important", "substantial"):
            continue
        where = lr.rule.when[0].where
        if where.get("instrument") != instrument:
            continue
        for field_name, test in where.items():
            if (
                field_name not in ("change_pct", "change_abs")
                or not isinstance(test, dict)
                or "lte" not in test
            ):
                continue
            limit = float(test["lte"])
            value = baseline * (1 + limit / 100) if field_name == "change_pct" else baseline + limit
            unit = "%" if field_name == "change_pct" else " points"
            out[f"{then.response}: {limit:g}{unit}"] = round(value, 2)
    return [Threshold(label=label, value=value) for label, value in sorted(out.items())]
