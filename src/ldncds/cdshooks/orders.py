"""Order checks for order-select and order-sign: naltrexone and opioids must not meet.

The checks are rules (rules/orders.yaml): the draft orders are assessed with the patient's record
by the engine, the assessment is recorded in the decision log, and each card here shows one of its
findings with the rule that produced it. Nothing is decided in this module: drugs are recognised
with the rules' own value sets (through `derive`) only to build the cards' wording and suggestions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from ldncds.engine import Assessment, HardStop, Medication, PatientFacts, ValueSets, derive
from ldncds.fhir.adapter import reference_target

from .cards import OVERRIDE_REASONS, SOURCE_LABEL, md, rule_url, shorten
from .models import Action, Card, Coding, Source, Suggestion

# Dose thresholds are ruleset parameters (rules/ruleset.yaml), the same ones the rules name: above
# the studied maximum is outside the studied LDN range; above the LDN maximum it is full-dose
# naltrexone (blocks opioids for about 24 hours).
LDN_STUDIED_MAX = "ldn_studied_max_mg_per_day"
LDN_MAX = "ldn_max_mg_per_day"


@dataclass(frozen=True)
class DoseLimits:
    """The ruleset's dose limits, read once per request with the value sets."""

    studied_max_mg: float
    ldn_max_mg: float

    @classmethod
    def of(cls, valuesets: ValueSets) -> DoseLimits:
        return cls(float(valuesets.parameter(LDN_STUDIED_MAX)), float(valuesets.parameter(LDN_MAX)))


OPIOID_VALUE_SETS = frozenset({"opioid_agonists", "opioid_maintenance"})
NALTREXONE_VALUE_SET = "naltrexone"
# Status not recorded counts as possibly current: unknown is not "stopped".
_MAYBE_CURRENT = frozenset({"current", "unknown"})


@dataclass(frozen=True)
class MedicationView:
    """One medication as the rules see it: value sets (by code or by name), exposure and daily dose."""

    source: str
    display: str
    value_sets: frozenset[str]
    exposure: str
    daily_dose_mg: float | None
    limits: DoseLimits

    @property
    def is_opioid(self) -> bool:
        return bool(self.value_sets & OPIOID_VALUE_SETS)

    @property
    def is_naltrexone(self) -> bool:
        return NALTREXONE_VALUE_SET in self.value_sets

    @property
    def dose_label(self) -> str:
        return f"{self.daily_dose_mg:g} mg/day" if self.daily_dose_mg is not None else "dose not recorded"


def medication_views(medications: list[Medication], on: date, valuesets: ValueSets) -> list[MedicationView]:
    derived = derive(PatientFacts(medications=medications), on, valuesets)
    limits = DoseLimits.of(valuesets)
    views = []
    for fact in derived.facts:
        if fact["kind"] != "medication":
            continue
        ref = derived.refs[fact["id"]]
        views.append(
            MedicationView(
                source=ref.source,
                display=ref.display,
                # A name alone may block (never qualify), so text matches count here: both checks block.
                value_sets=frozenset(fact["value_sets"]) | frozenset(fact["text_value_sets"]),
                exposure=fact["exposure"],
                daily_dose_mg=fact.get("daily_dose_mg"),
                limits=limits,
            )
        )
    return views


def selected(drafts: list[MedicationView], selections: list[str] | None) -> list[MedicationView]:
    """order-select acts only on the orders being selected; order-sign (selections None) on all."""
    if selections is None:
        return drafts
    wanted = {reference_target(s) for s in selections}
    return [d for d in drafts if reference_target(d.source) in wanted]


def current_naltrexone(record: list[MedicationView]) -> list[MedicationView]:
    return [m for m in record if m.is_naltrexone and m.exposure in _MAYBE_CURRENT]


def is_low_dose(m: MedicationView) -> bool:
    """LDN context: at or below the LDN maximum; a dose not recorded is possibly low dose (fail safe)."""
    return m.daily_dose_mg is None or m.daily_dose_mg <= m.limits.ldn_max_mg


# ---------------------------------------------------------------------------------------------- cards


ORDER_HARD_STOP = "opioid_order_with_naltrexone"  # rules/orders.yaml
DOSE_CAUTION = "dose_outside_ldn"
ORDER_RULES = "ORDER-"  # dose cautions of the order checks (not of the record) carry these rule ids


def with_drafts(facts: PatientFacts, drafts: list[Medication]) -> PatientFacts:
    """The patient's record plus the draft orders, as the order-check rules read them."""
    return facts.model_copy(update={"medications": [*(facts.medications or []), *drafts]})


def order_cards(
    naltrexone_orders: list[MedicationView],
    opioid_orders: list[MedicationView],
    record: list[MedicationView],
    assessment: Assessment | None,
    *,
    base_url: str,
    ruleset_version: str,
) -> list[Card]:
    """Every card for the draft orders: one per finding of the engine's assessment of the record
    with the drafts (no assessment, no card: an order check never answers without the engine)."""
    if assessment is None:
        return []
    on_naltrexone = current_naltrexone(record)
    blocked = {h.culprit.source: h for h in assessment.hard_stops if h.id == ORDER_HARD_STOP}
    cards = [
        opioid_on_ldn_card(o, on_naltrexone, blocked[o.source], assessment, base_url=base_url)
        for o in opioid_orders
        if o.source in blocked
    ]
    record_stops = [h for h in assessment.hard_stops if h.id != ORDER_HARD_STOP]
    if naltrexone_orders and record_stops:
        cards.append(
            naltrexone_contraindicated_card(naltrexone_orders[0], assessment, record_stops, base_url=base_url)
        )
    for order in naltrexone_orders:
        rule_id = _dose_rule(assessment, order)
        if rule_id is not None:
            on_ldn = [m for m in on_naltrexone if is_low_dose(m)]
            cards.append(dose_card(order, on_ldn, rule_id, assessment, base_url=base_url))
    # The first card carries the assessment id, so CDS Hooks feedback on it reaches the stored record.
    if cards and all(c.uuid != assessment.assessment_id for c in cards):
        cards[0] = cards[0].model_copy(update={"uuid": assessment.assessment_id})
    return cards


def _dose_rule(assessment: Assessment, order: MedicationView) -> str | None:
    for caution in assessment.cautions:
        if caution.id != DOSE_CAUTION:
            continue
        for explanation in caution.explanations:
            cited = {f.source for f in explanation.facts}
            if explanation.rule_id.startswith(ORDER_RULES) and order.source in cited:
                return explanation.rule_id
    return None


def _card(
    *,
    summary: str,
    detail: str,
    indicator: str,
    url: str,
    check: str,
    cancel: MedicationView | None,
    extension: dict,
    card_id: str | None = None,
) -> Card:
    suggestion = None
    if cancel is not None:
        suggestion = Suggestion(
            label=shorten(f"Cancel the order for {cancel.display}", 80),
            uuid=str(uuid.uuid4()),
            actions=[
                Action(
                    type="delete",
                    description=f"Remove the draft order {cancel.source}",
                    resourceId=cancel.source,
                )
            ],
        )
    return Card(
        uuid=card_id or str(uuid.uuid4()),
        summary=shorten(summary),
        detail=detail,
        indicator=indicator,  # type: ignore[arg-type]
        source=Source(label=SOURCE_LABEL, url=url, topic=Coding(system="urn:ldncds:order-check", code=check)),
        suggestions=[suggestion] if suggestion else None,
        selectionBehavior="at-most-one" if suggestion else None,
        overrideReasons=list(OVERRIDE_REASONS),
        extension={"ldncds": {"check": check, **extension}},
    )


def opioid_on_ldn_card(
    opioid: MedicationView,
    naltrexone: list[MedicationView],
    finding: HardStop,
    assessment: Assessment,
    *,
    base_url: str,
) -> Card:
    """An opioid order for a patient taking naltrexone: the opioid will be blocked (critical)."""
    rule_id = finding.explanations[0].rule_id
    low = [m for m in naltrexone if is_low_dose(m)]
    kind = "low-dose naltrexone" if low else "naltrexone"
    lines = [
        f"**An opioid is being ordered for a patient who takes {kind}.**",
        "",
        f"- Opioid order: **{md(opioid.display)}** ({md(opioid.source)}; rule {rule_id})",
        *(
            f"- Naltrexone on record: **{md(m.display)}** ({md(m.source)}; {m.dose_label}; {m.exposure})"
            for m in naltrexone
        ),
        "",
        md(finding.explanations[0].rationale),
        "Choose a non-opioid analgesic, or stop naltrexone and allow it to wear off before opioids are "
        "needed (hold about 72 hours before planned surgery). "
        f"Above {opioid.limits.ldn_max_mg:g} mg/day naltrexone blocks opioids for about 24 hours.",
    ]
    return _card(
        summary=f"Opioid ordered for a patient on {kind}: {opioid.display} will be blocked",
        detail="\n".join(lines),
        indicator="critical",
        url=rule_url(base_url, rule_id),
        check="opioid-order-with-naltrexone",
        cancel=opioid,
        extension={"assessment_id": assessment.assessment_id, "ruleset_version": assessment.ruleset_version},
    )


def naltrexone_contraindicated_card(
    order: MedicationView, assessment: Assessment, stops: list[HardStop], *, base_url: str
) -> Card:
    """A naltrexone order while the engine finds a hard stop (current opioid, allergy...): critical."""
    first = stops[0]
    lines = [
        "**Naltrexone is being ordered, but the patient's record shows a hard stop.**",
        "",
        f"- Naltrexone order: **{md(order.display)}** ({md(order.source)}; {order.dose_label})",
    ]
    for h in stops:
        rules = ", ".join(dict.fromkeys(e.rule_id for e in h.explanations))
        when = f"; earliest start {h.earliest_start}" if h.earliest_start else ""
        lines.append(
            f"- {md(h.title)}: **{md(h.culprit.display)}** ({md(h.culprit.source)}{when}; rule {rules})"
        )
    lines += ["", md(first.explanations[0].rationale)]
    return _card(
        summary=f"Naltrexone ordered but contraindicated: {first.title.lower()} ({first.culprit.display})",
        detail="\n".join(lines),
        indicator="critical",
        url=rule_url(base_url, first.explanations[0].rule_id),
        check="naltrexone-order-contraindicated",
        cancel=order,
        card_id=assessment.assessment_id,
        extension={"assessment_id": assessment.assessment_id, "ruleset_version": assessment.ruleset_version},
    )


def dose_card(
    order: MedicationView,
    on_ldn: list[MedicationView],
    rule_id: str,
    assessment: Assessment,
    *,
    base_url: str,
) -> Card:
    """A naltrexone order the rules flag as above the studied low-dose range (warning)."""
    dose, limits = order.daily_dose_mg, order.limits
    if on_ldn and dose is not None and dose > limits.ldn_max_mg:
        summary = (
            f"Naltrexone {dose:g} mg/day for a patient on low-dose naltrexone: this is full-dose naltrexone"
        )
    else:
        summary = (
            f"Naltrexone {order.dose_label} is above the studied low-dose range "
            f"(up to {limits.studied_max_mg:g} mg/day)"
        )
    lines = [
        f"- Naltrexone order: **{md(order.display)}** ({md(order.source)}; {order.dose_label}; "
        f"rule {rule_id})",
        *(f"- Current naltrexone: {md(m.display)} ({md(m.source)}; {m.dose_label})" for m in on_ldn),
        "",
        f"Low-dose naltrexone is studied at 1.5-4.5 mg/day ({limits.studied_max_mg:g} mg/day in the FINAL "
        f"trial). Above {limits.studied_max_mg:g} mg/day is outside the studied range; "
        f"above {limits.ldn_max_mg:g} mg/day it is full-dose naltrexone, which blocks opioids for "
        "about 24 hours. Check the dose and units.",
    ]
    return _card(
        summary=summary,
        detail="\n".join(lines),
        indicator="warning",
        url=rule_url(base_url, rule_id),
        check="naltrexone-dose-above-ldn",
        cancel=None,
        extension={"assessment_id": assessment.assessment_id, "ruleset_version": assessment.ruleset_version},
    )
