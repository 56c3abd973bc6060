"""The rulebook: every rule of the loaded ruleset in plain language, with its evidence, the
Gherkin scenarios that exercise it, the catalogues and the value sets.

Served at /rulebook and exported by `ldncds rules docs OUT_DIR`, from the same template. Each rule
has the anchor `rule-<RULE-ID>` (cards and assessment pages link there) and each value set
`valueset-<name>`. Conditions are written out from the rule's own `when` tests, so the words can
never drift from what the engine checks.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ldncds.engine import (
    AdverseEffectOutcome,
    CautionOutcome,
    CriterionOutcome,
    DecisionOutcome,
    DoseAdjustmentOutcome,
    HardStopOutcome,
    LoadedRuleset,
    NoteOutcome,
    Pattern,
    RecommendationOutcome,
    ReminderOutcome,
    ResponseOutcome,
    Rule,
    TherapyOutcome,
    TitrationOutcome,
)

from .render import STYLESHEET, render, static_file
from .words import (
    OVERALL_RESPONSE_LABELS,
    RESPONSE_LABELS,
    decision_label,
    evidence_link,
    label_of,
    rule_anchor,
    status_label,
)

Segment = dict[str, str | None]  # {"text": ..., "href": ... or None}; the template escapes both
COLLAPSE_ABOVE = 40  # value sets longer than this are folded in a <details> element

SUBJECTS = {
    "patient": "the patient",
    "condition": "a condition",
    "medication": "a medication",
    "procedure": "a procedure",
    "allergy": "an allergy",
    "observation": "an observation",
    "therapy": "the current naltrexone",
    "response": "an outcome measure",
    "summary": "the combined findings",
    "response_summary": "the response over all outcome measures",
    "caution": "a caution",
    "decision": "the decision",
}
FIELD_WORDS = {
    "age_min": "youngest possible age",
    "age_max": "oldest possible age",
    "sex": "sex",
    "birth_date_known": "birth date known",
    "clinical": "clinical status",
    "verification": "verification",
    "duration_days_min": "days since it began (shortest estimate)",
    "duration_days_max": "days since it began (longest estimate)",
    "duration_basis": "duration dated from",
    "identified": "identified by a code or a name",
    "exposure": "exposure",
    "is_order": "an order or actual use (not a proposal)",
    "days_since_start": "days since start",
    "days_since_end": "days since end",
    "daily_dose_mg": "daily dose in mg",
    "state": "state",
    "days_since": "days since it was done",
    "days_until": "days until it is planned",
    "active": "active",
    "usable": "a final result (final, amended or corrected)",
    "value_num": "value",
    "value_max": "highest the value can be (the value, or the bound of a '<' result)",
    "value_min": "lowest the value can be (the value, or the bound of a '>' result)",
    "value_unit": "unit",
    "value_read": "a value could be read",
    "result": "result",
    "days_on_therapy": "days on therapy",
    "days_at_current_dose": "days at the current dose",
    "baseline_known": "baseline known",
    "followup_known": "follow-up result known",
    "baseline_value": "baseline score",
    "change_abs": "change since baseline (points)",
    "change_pct": "change since baseline (%)",
    "evaluated": "measures judged",
    "important": "measures with an important improvement",
    "substantial": "measures with a substantial improvement",
    "too_early": "measures too early to judge",
    "no_baseline": "measures without a baseline",
    "not_measured": "measures not measured since the start",
    "on_therapy": "current LDN therapies",
    "hard_stops": "hard stops",
    "not_met": "required criteria not met",
    "unknown": "required criteria unknown",
    "cautions": "cautions",
    "caution": "caution",
    "value": "decision",
}
FIELD_WORDS_BY_KIND = {("observation", "days_since"): "days since it was taken"}
VALUE_WORDS = {
    ("clinical", "current"): "current (active, recurrence or relapse)",
    ("clinical", "not_current"): "not current (inactive, remission or resolved)",
    ("clinical", "unknown"): "not recorded",
    ("clinical", "contradictory"): "contradictory (active, recurrence or relapse, yet abated)",
    ("verification", "possible"): "not confirmed (provisional, differential, unconfirmed or not recorded)",
    ("duration_basis", "onset"): "the onset date",
    ("duration_basis", "recorded"): "the date first recorded (no onset date)",
    ("duration_basis", "none"): "nothing (neither an onset nor a recorded date)",
    ("exposure", "current"): "current (active or on hold)",
    ("exposure", "ended"): "ended (completed or stopped)",
    ("exposure", "planned"): "planned (draft or intended)",
    ("exposure", "none"): "none (cancelled or not taken)",
    ("exposure", "unknown"): "unknown (status not recorded)",
    ("state", "done"): "done (completed, in progress or stopped)",
    ("state", "planned"): "planned (in preparation or on hold)",
    ("state", "not_done"): "not done",
}
ANCHOR_WORDS = {
    "start": "the planned start",
    "event": "the event (e.g. the surgery date)",
    "therapy_start": "the start of LDN therapy",
}
OPERATORS = {"eq": "", "ne": "not", "lt": "less than", "lte": "at most", "gt": "more than", "gte": "at least"}
SET_WORDS = {
    "value_set": "in value set",
    "text_value_set": "whose name, written as text, matches value set",
    "latest_in": "the most recent result in value set",
    "newest_in": "the newest result of any status (preliminary included) in value set",
    "answer_in": "answered with a code in value set",
    "off_scale_in": "with a value outside the scale of value set",
}


# ------------------------------------------------------------------ conditions in words


def _text(text: str) -> Segment:
    return {"text": text, "href": None}


def _link(text: str, anchor: str) -> Segment:
    return {"text": text, "href": f"#{anchor}"}


def _value(field: str, value: Any) -> str:
    if isinstance(value, str):
        return VALUE_WORDS.get((field, value), value.replace("_", " "))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _valueset_segments(key: str, test: Any) -> list[Segment]:
    if isinstance(test, dict):
        ((mode, names),) = test.items()
        joiner = " or " if mode == "any_of" else " and "
        words = SET_WORDS[key].replace(
            "value set", "any of the value sets" if mode == "any_of" else "all of the value sets"
        )
        out = [_text(words + " ")]
        for i, name in enumerate(names):
            if i:
                out.append(_text(joiner if i == len(names) - 1 else ", "))
            out.append(_link(name, f"valueset-{name}"))
        return out
    return [_text(SET_WORDS[key] + " "), _link(str(test), f"valueset-{test}")]


def _test_words(kind: str, field: str, test: Any) -> str:
    words = FIELD_WORDS_BY_KIND.get((kind, field), FIELD_WORDS.get(field, field.replace("_", " ")))
    if isinstance(test, bool):
        return words if test else f"not {words}"
    if not isinstance(test, dict):
        if test == 0 and kind in ("summary", "response_summary"):
            return f"no {words}"
        return f"{words} {_value(field, test)}"
    if test == {"gte": 0} and field.startswith("days_since"):
        return f"{words} at least 0 (on or before the evaluation date)"
    if set(test) == {"gte", "lte"}:
        return f"{words} between {_value(field, test['gte'])} and {_value(field, test['lte'])}"
    clauses = []
    for op, arg in test.items():
        if op == "exists":
            clauses.append(f"{words} {'recorded' if arg else 'not recorded'}")
        elif op == "in":
            clauses.append(f"{words} one of " + ", ".join(_value(field, v) for v in arg))
        else:
            clauses.append(f"{words} {OPERATORS[op]} {_value(field, arg)}".replace("  ", " "))
    return " and ".join(clauses)


def describe_pattern(pattern: Pattern, caution_titles: dict[str, str] | None = None) -> list[Segment]:
    """One `when` pattern in words, e.g. 'a condition in value set fibromyalgia, clinical status
    current (active, recurrence or relapse), verification confirmed'."""
    where = dict(pattern.where)
    if pattern.fact == "record":
        return [_text(_record_words(where))]
    if pattern.fact == "decision" and set(where) == {"value"}:
        words = _test_words("decision", "value", where["value"]).removeprefix("decision ")
        return [_text(f"the decision is {words}")]
    if pattern.fact == "caution" and isinstance(where.get("caution"), str):
        caution = str(where.pop("caution"))
        title = (caution_titles or {}).get(caution, caution.replace("_", " "))
        out = [_text("the caution "), _link(title, f"caution-{caution}"), _text(" applies")]
    else:
        out = [_text(SUBJECTS.get(pattern.fact, pattern.fact))]
    named = False
    for key in ("value_set", "text_value_set"):
        if key in where:
            out += [_text(" "), *_valueset_segments(key, where.pop(key))]
            named = True
    clauses: list[list[Segment]] = []
    for key in ("latest_in", "newest_in", "answer_in", "off_scale_in"):
        if key in where:
            clauses.append(_valueset_segments(key, where.pop(key)))
    if isinstance(where.get("instrument"), str):  # outcome measures are value sets of their codes
        name = str(where.pop("instrument"))
        clauses.append([_text("measure "), _link(name, f"valueset-{name}")])
    clauses += [[_text(_test_words(pattern.fact, field, test))] for field, test in where.items()]
    for i, clause in enumerate(clauses):
        # "the patient: youngest possible age at least 18", "a condition in value set X, clinical status ..."
        out += [_text(", " if i or named or pattern.fact == "caution" else ": "), *clause]
    return out


def _record_words(where: dict[str, Any]) -> str:
    section = where.get("section", "any")
    states = []
    if "available" in where:
        states.append("was supplied" if where["available"] else "was not supplied")
    if "complete" in where:
        states.append("is complete" if where["complete"] else "is incomplete (an error or unread pages)")
    return f"the {section} section of the record " + " and ".join(states)


# ------------------------------------------------------------------ outcomes in words


def describe_outcome(rule: Rule, rs: LoadedRuleset) -> dict[str, Any]:
    """What the rule concludes: a sentence (segments) and, for a plan, its steps."""
    then = rule.then
    words = _OUTCOME_WORDS.get(type(then), _fields_words)
    steps = _titration_steps(then) if isinstance(then, TitrationOutcome) else []
    return {"segments": words(then, rs), "steps": steps}


def _title(catalog: Mapping[str, Any], key: str) -> str:
    """A catalogue entry's title, or its id when the ruleset does not define it."""
    return str(catalog[key].title) if key in catalog else key


def _criterion_words(then: CriterionOutcome, rs: LoadedRuleset) -> list[Segment]:
    seg = [
        _text("Criterion "),
        _link(_title(rs.criteria, then.criterion), f"criterion-{then.criterion}"),
        _text(f" is {status_label(then.status).lower()}"),
    ]
    if then.pathway:
        seg.append(_text(f" (pathway: {then.pathway})"))
    if then.missing:
        seg.append(_text(f". Missing: {then.missing}"))
    return seg


def _hard_stop_words(then: HardStopOutcome, rs: LoadedRuleset) -> list[Segment]:
    seg = [_text("Hard stop: "), _link(_title(rs.hard_stops, then.hard_stop), f"hard-stop-{then.hard_stop}")]
    if then.washout_days:
        seg.append(_text(f"; earliest start {then.washout_days} days after the last dose"))
    return seg


def _caution_words(then: CautionOutcome, rs: LoadedRuleset) -> list[Segment]:
    seg = [_text("Caution: "), _link(_title(rs.cautions, then.caution), f"caution-{then.caution}")]
    if then.alert:
        seg.append(_text(f". Same-day alert: {then.alert}"))
    return seg


def _note_words(then: NoteOutcome, rs: LoadedRuleset) -> list[Segment]:
    return [_text(f"Note: {then.note}")]


def _decision_words(then: DecisionOutcome, rs: LoadedRuleset) -> list[Segment]:
    return [_text(f"Decision: {decision_label(then.decision)}")]


def _titration_words(then: TitrationOutcome, rs: LoadedRuleset) -> list[Segment]:
    return [
        _text(
            f"Titration plan ({then.titration}); any dose above "
            f"{then.flag_above_mg:g} mg is flagged as above the studied range:"
        )
    ]


def _titration_steps(then: TitrationOutcome) -> list[str]:
    return [
        f"{s.dose_mg:g} mg {s.timing}, from week {s.from_week}"
        + (f" to week {s.to_week}" if s.to_week is not None else " onwards")
        for s in then.steps
    ]


def _dose_adjustment_words(then: DoseAdjustmentOutcome, rs: LoadedRuleset) -> list[Segment]:
    return [_text(f"Dose adjustment: {then.dose_adjustment}")]


def _reminder_words(then: ReminderOutcome, rs: LoadedRuleset) -> list[Segment]:
    anchor = ANCHOR_WORDS.get(then.due.anchor, then.due.anchor.replace("_", " "))
    due = _due_window(then.due.from_days, then.due.to_days, anchor)
    seg = [_text(f"Reminder: {then.what.strip()} Due {due}.")]
    if then.done_when:
        seg += [
            _text(" Marked done by a result in value set "),
            _link(then.done_when, f"valueset-{then.done_when}"),
            _text(f" dated in that window (give or take {then.due.grace_days} days)."),
        ]
    return seg


def _therapy_words(then: TherapyOutcome, rs: LoadedRuleset) -> list[Segment]:
    return [_text("The patient is on low-dose naltrexone: on-therapy follow-up applies")]


def _response_words(then: ResponseOutcome, rs: LoadedRuleset) -> list[Segment]:
    return [_text(f"Response of this measure: {label_of(RESPONSE_LABELS, then.response).lower()}")]


def _adverse_effect_words(then: AdverseEffectOutcome, rs: LoadedRuleset) -> list[Segment]:
    serious = " (serious)" if then.serious else ""
    return [_text(f"Adverse effect {then.adverse_effect.replace('_', ' ')}{serious}: {then.action.strip()}")]


def _recommendation_words(then: RecommendationOutcome, rs: LoadedRuleset) -> list[Segment]:
    label = label_of(OVERALL_RESPONSE_LABELS, then.response_status)
    return [_text(f"Overall response {label}: {then.recommendation.strip()}")]


def _fields_words(then: Any, rs: LoadedRuleset) -> list[Segment]:
    """An outcome this page does not know yet: list its fields rather than hide it."""
    fields = then.model_dump(exclude_none=True)
    return [_text("; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in fields.items()))]


# Each outcome type in words (the types are distinct classes, so the exact type picks the entry).
_OUTCOME_WORDS: dict[type, Callable[[Any, LoadedRuleset], list[Segment]]] = {
    CriterionOutcome: _criterion_words,
    HardStopOutcome: _hard_stop_words,
    CautionOutcome: _caution_words,
    NoteOutcome: _note_words,
    DecisionOutcome: _decision_words,
    TitrationOutcome: _titration_words,
    DoseAdjustmentOutcome: _dose_adjustment_words,
    ReminderOutcome: _reminder_words,
    TherapyOutcome: _therapy_words,
    ResponseOutcome: _response_words,
    AdverseEffectOutcome: _adverse_effect_words,
    RecommendationOutcome: _recommendation_words,
}


def _due_window(first: int, last: int, anchor: str) -> str:
    """Day offsets in words: 'from 7 to 14 days after the planned start', '3 days before the event'."""

    def days(n: int) -> str:
        return f"{abs(n)} day{'' if abs(n) == 1 else 's'}"

    def at(n: int) -> str:
        return f"on the day of {anchor}" if n == 0 else f"{days(n)} {'before' if n < 0 else 'after'} {anchor}"

    if first == last:
        return at(first)
    if first == 0:
        return f"from the day of {anchor} to {days(last)} after"
    if first > 0:
        return f"from {first} to {days(last)} after {anchor}"
    if last == 0:
        return f"from {days(first)} before {anchor} to the day itself"
    if last < 0:
        return f"from {abs(first)} to {days(last)} before {anchor}"
    return f"from {days(first)} before to {days(last)} after {anchor}"


# ------------------------------------------------------------------ scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str
    line: int


_SCENARIO = re.compile(r"^\s*(Scenario Outline|Scenario Template|Scenario|Example)\s*:\s*(.*)$")
_BLOCK_END = re.compile(r"^\s*(Feature|Rule|Background)\s*:")
_RULE_ID = re.compile(r"(?<![A-Za-z0-9-])[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+(?![A-Za-z0-9-])")


def scenarios_by_rule(features_dir: Path | None) -> dict[str, list[Scenario]]:
    """Scenarios of features/**/*.feature by every rule id they mention (in tags, steps or tables)."""
    out: dict[str, list[Scenario]] = defaultdict(list)
    if features_dir is None or not features_dir.is_dir():
        return out
    for path in sorted(features_dir.rglob("*.feature")):
        rel = path.relative_to(features_dir.parent).as_posix()
        for scenario, text in _scenario_blocks(path.read_text(encoding="utf-8", errors="replace"), rel):
            for rule_id in dict.fromkeys(_RULE_ID.findall(text)):
                out[rule_id].append(scenario)
    return out


def _scenario_blocks(source: str, file: str) -> list[tuple[Scenario, str]]:
    blocks: list[tuple[Scenario, str]] = []
    current: tuple[Scenario, list[str]] | None = None
    tags: list[str] = []
    for number, line in enumerate(source.splitlines(), start=1):
        if line.lstrip().startswith("@"):
            tags.append(line)  # tags belong to what follows: a scenario, or an Examples table
            continue
        if match := _SCENARIO.match(line):
            if current:
                blocks.append((current[0], "\n".join(current[1])))
            current = (Scenario(match.group(2).strip(), file, number), [*tags, line])
            tags = []
        elif _BLOCK_END.match(line):
            if current:
                blocks.append((current[0], "\n".join(current[1])))
            current, tags = None, []
        elif current:
            current[1].extend([*tags, line])
            tags = []
    if current:
        blocks.append((current[0], "\n".join(current[1])))
    return blocks


# ------------------------------------------------------------------ the whole rulebook


def features_dir_of(rs: LoadedRuleset) -> Path:
    """features/ next to the rules folder, where the Gherkin scenarios live."""
    return rs.directory.parent / "features"


def rulebook_view(rs: LoadedRuleset, features_dir: Path | None) -> dict[str, Any]:
    scenarios = scenarios_by_rule(features_dir)
    used_by: dict[str, list[str]] = defaultdict(list)
    producers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rule_id, lr in rs.rules.items():
        for name in _valuesets_of(lr.rule):
            if rule_id not in used_by[name]:
                used_by[name].append(rule_id)
        for key in ("criterion", "hard_stop", "caution"):
            if target := getattr(lr.rule.then, key, None):
                producers[(key, target)].append(rule_id)
    return {
        "manifest": rs.manifest,
        "version": rs.version,
        "files": [_file_view(name, rf, rs, scenarios) for name, rf in rs.files.items()],
        "criteria": [
            {
                "id": c.id,
                "title": c.title,
                "question": c.question,
                "required": c.required,
                "default": status_label(c.default),
                "pathways": c.applies_to_pathways or [],
                "to_change": c.to_change,
                "rules": _anchors(producers[("criterion", c.id)]),
            }
            for c in rs.criteria.values()
        ],
        "hard_stops": [
            {"id": h.id, "title": h.title, "rules": _anchors(producers[("hard_stop", h.id)])}
            for h in rs.hard_stops.values()
        ],
        "cautions": [
            {"id": c.id, "title": c.title, "rules": _anchors(producers[("caution", c.id)])}
            for c in rs.cautions.values()
        ],
        "valuesets": [
            {
                "name": name,
                "rows": rs.valuesets.rows[name],
                "collapsed": len(rs.valuesets.rows[name]) > COLLAPSE_ABOVE,
                "rules": _anchors(used_by.get(name, [])),
                "provenance": _provenance(rs, name),
            }
            for name in sorted(rs.valuesets.names)
        ],
        "rule_count": len(rs.rules),
        "scenario_count": _scenario_count(features_dir),
        "parameters": _parameter_view(rs),
    }


def _provenance(rs: LoadedRuleset, name: str) -> dict[str, Any] | None:
    """Where a value set's codes came from: its meta file, with the number of rows from each source."""
    meta = rs.valuesets.meta.get(name)
    if meta is None:
        return None
    counts: dict[str, int] = defaultdict(int)
    for row in rs.valuesets.rows.get(name, []):
        for source_id in row.source.split("|"):
            counts[source_id] += 1
    sources = [
        {
            "id": s.id,
            "title": s.title,
            "kind": s.kind,
            "href": s.url if s.url and s.url.startswith(("http://", "https://")) else None,
            "where": " · ".join(
                part for part in (s.url, f"OID {s.oid}" if s.oid else None, s.file, s.repository) if part
            ),
            "version": " · ".join(
                p for p in (s.version and f"version {s.version}", s.date and f"dated {s.date}") if p
            ),
            "rows": counts.get(s.id, 0),
        }
        for s in meta.sources
    ]
    return {"title": meta.title, "description": meta.description, "policy": meta.policy, "sources": sources}


# ------------------------------------------------------------------ parameters (rules17)


def _scenario_count(features_dir: Path | None) -> int:
    """Every scenario of features/ (what `ldncds scenarios` replays), not only those naming a rule."""
    if features_dir is None or not features_dir.is_dir():
        return 0
    return sum(
        len(_scenario_blocks(path.read_text(encoding="utf-8", errors="replace"), path.name))
        for path in sorted(features_dir.rglob("*.feature"))
    )


def _parameter_view(rs: LoadedRuleset) -> list[dict[str, Any]]:
    """Each threshold and window once: value, unit, meaning, source, where defined, who uses it."""
    uses: dict[str, list[str]] = defaultdict(list)
    for use in rs.parameter_uses:
        if use.rule_id not in uses[use.parameter]:
            uses[use.parameter].append(use.rule_id)
    return [
        {
            "name": name,
            "value": f"{p.value:g}",
            "unit": p.unit,
            "meaning": p.meaning,
            "source": p.source,
            "url": p.url,
            "file": rs.parameter_home.get(name, ""),
            "rules": _anchors(uses.get(name, [])),
        }
        for name, p in sorted(rs.parameters.items())
    ]


def _anchors(rule_ids: list[str]) -> list[dict[str, str]]:
    return [{"id": r, "href": f"#{rule_anchor(r)}"} for r in rule_ids]


def _valuesets_of(rule: Rule) -> list[str]:
    names: list[str] = []
    for pattern in rule.when:
        for key in SET_WORDS:
            test = pattern.where.get(key)
            if test is not None:
                names += next(iter(test.values())) if isinstance(test, dict) else [str(test)]
    return list(dict.fromkeys(names))


def _file_view(name: str, rf: Any, rs: LoadedRuleset, scenarios: dict[str, list[Scenario]]) -> dict[str, Any]:
    caution_titles = {c.id: c.title for c in rs.cautions.values()}
    return {
        "name": name,
        "anchor": "file-" + name.removesuffix(".yaml"),
        "title": rf.title,
        "concern": rf.concern,
        "description": rf.description.strip(),
        "rules": [
            {
                "id": r.id,
                "anchor": rule_anchor(r.id),
                "version": r.version,
                "title": r.title,
                "statement": r.statement.strip(),
                "when": [describe_pattern(p, caution_titles) for p in r.when],
                "then": describe_outcome(r, rs),
                "evidence": [evidence_link(e) for e in r.evidence],
                "rationale": r.rationale.strip(),
                "counterfactual": _placeholders(r.counterfactual) if r.counterfactual else None,
                "scenarios": scenarios.get(r.id, []),
            }
            for r in rf.rules
        ],
    }


def _placeholders(text: str) -> str:
    """'{fact}' and '{earliest_start}' are filled in per patient; say so in words."""
    return re.sub(
        r"\{(\w+)\}",
        lambda m: "[name of the record]" if m[1] == "fact" else f"[{m[1].replace('_', ' ')}]",
        text.strip(),
    )


def render_rulebook(
    rs: LoadedRuleset,
    features_dir: Path | None = None,
    *,
    css_href: str = STYLESHEET,
) -> str:
    """The rulebook as one HTML page (features_dir defaults to features/ beside the rules folder)."""
    view = rulebook_view(rs, features_dir if features_dir is not None else features_dir_of(rs))
    return render(
        "rulebook.html",
        book=view,
        title=f"Rulebook {rs.version} — ldncds",
        css_href=css_href,
    )


_CACHE: dict[tuple[Any, ...], str] = {}
_CACHE_SIZE = 4


def cached_rulebook(rs: LoadedRuleset, css_href: str) -> str:
    """The served rulebook, rebuilt only when the rules or the feature files change."""
    features = features_dir_of(rs)
    stamp = (
        tuple(
            (p.as_posix(), p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(features.rglob("*.feature"))
        )
        if features.is_dir()
        else ()
    )
    key = (str(rs.directory), rs.content_hash, stamp, css_href)
    html = _CACHE.get(key)
    if html is None:
        html = render_rulebook(rs, css_href=css_href)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = html
    return html


def export_rulebook(rs: LoadedRuleset, out_dir: Path, features_dir: Path | None = None) -> list[Path]:
    """Write index.html and the stylesheet into out_dir (created if needed); return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    index.write_text(render_rulebook(rs, features_dir, css_href=STYLESHEET), encoding="utf-8")
    stylesheet = static_file(STYLESHEET)
    if stylesheet is None:  # a broken install; say so rather than write an unstyled book
        raise FileNotFoundError(f"ldncds.pages is missing static/{STYLESHEET}")
    css = out_dir / STYLESHEET
    css.write_bytes(stylesheet)
    return [index, css]
