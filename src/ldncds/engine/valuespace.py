"""Coverage of the value space: the threshold rules of one criterion must split it without a hole.

The rules that decide one criterion from the same kind of fact and the same code lists (e.g. the
five pain-duration rules of the qualifying diagnoses) split a numeric range between them: more
than 90 days is met, 90 or less not met, a partial date straddling 90 unknown. Moving one of the
thresholds alone opens a gap no rule covers (the patient silently gets the criterion's default)
or an overlap where two rules answer at once. This check walks every boundary the rules name and
every value their words may take, and reports each point covered by no rule or by several.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from .loader import LoadedRuleset
from .matching import _test
from .ruleschema import CriterionOutcome, Pattern
from .vocabulary import FACT_FIELDS, FIELD_ABSENT_WHEN, FIELD_VALUES, SET_FIELD_OF, field_unit

_MAX_POINTS = 20_000  # a group this large is not a threshold split; it is skipped, never half-checked


@dataclass(frozen=True)
class Member:
    rule_id: str
    file: str
    pattern: Pattern
    status: str = ""


@dataclass(frozen=True)
class Problem:
    kind: str  # "gap" or "overlap"
    criterion: str
    file: str
    rules: tuple[str, ...]  # the rules of the group (for a gap) or those that overlap
    where: str  # the point or range, in the rule's own words

    def __str__(self) -> str:
        if self.kind == "gap":
            return (
                f"{self.file}: criterion {self.criterion}: a gap no rule covers "
                f"(rules {', '.join(self.rules)}): {self.where}"
            )
        return f"{self.file}: criterion {self.criterion}: rules {', '.join(self.rules)} overlap: {self.where}"


def _set_key(p: Pattern) -> tuple[Any, ...]:
    return tuple(sorted((k, repr(v)) for k, v in p.where.items() if k in SET_FIELD_OF))


def groups(rs: LoadedRuleset) -> dict[tuple[Any, ...], list[Member]]:
    """Criterion rules grouped by (criterion, fact kind, code-list tests), for groups with a number."""
    found: dict[tuple[Any, ...], list[Member]] = {}
    statuses: dict[tuple[Any, ...], set[str]] = {}
    for rule_id, lr in rs.rules.items():
        then = lr.rule.then
        if not isinstance(then, CriterionOutcome):
            continue
        for p in lr.rule.when:
            key = (then.criterion, then.pathway or "", p.fact, _set_key(p))
            found.setdefault(key, []).append(Member(rule_id, lr.file, p, then.status))
            statuses.setdefault((then.criterion, p.fact, _set_key(p)), set()).add(then.status)
    # A split decides a criterion differently on each side of a threshold. Rules that all give one
    # status (e.g. "unknown: ask for the stop date") are exceptions carved out, not a split to cover.
    numeric = {
        key: members
        for key, members in found.items()
        if len(members) > 1
        and any(_numeric_fields(m.pattern) for m in members)
        and len(statuses[(key[0], key[2], key[3])]) > 1
    }
    return _merge_pathways(numeric)


def _merge_pathways(found: dict[tuple[Any, ...], list[Member]]) -> dict[tuple[Any, ...], list[Member]]:
    # Rules that differ only by the pathway they name split the same value space together.
    merged: dict[tuple[Any, ...], list[Member]] = {}
    for (criterion, _pathway, kind, sets), members in found.items():
        merged.setdefault((criterion, kind, sets), []).extend(members)
    return merged


def _numeric_fields(p: Pattern) -> list[str]:
    fields = FACT_FIELDS[p.fact]
    return [k for k in p.where if fields.get(k) == "num"]


def _thresholds(members: list[Member], field: str) -> list[float]:
    out: set[float] = set()
    for m in members:
        if field not in m.pattern.where:
            continue
        test = m.pattern.where[field]
        tests = test if isinstance(test, dict) else {"eq": test}
        out |= {v for op, v in tests.items() if op in {"eq", "ne", "lt", "lte", "gt", "gte"}}
    return sorted(out)


def _points(thresholds: list[float], integral: bool) -> list[float]:
    """Each boundary, each side of it, and beyond the last; never below zero (counts and ages)."""
    if integral:
        pts = {v + d for v in thresholds for d in (-1, 0, 1)}
    else:
        pts = set(thresholds) | {(a + b) / 2 for a, b in itertools.pairwise(thresholds)}
        pts |= {thresholds[0] - 0.5, thresholds[-1] + 0.5} if thresholds else set()
    pts |= {0, (thresholds[-1] * 2 + 1) if thresholds else 1}
    return sorted(p for p in pts if p >= 0)


def _families(kind: str, fields: set[str]) -> dict[str, tuple[str, ...]]:
    """Numeric fields by quantity: x_min and x_max bound one quantity x (an uncertain value)."""
    out: dict[str, tuple[str, ...]] = {}
    for f in sorted(fields):
        base = f.removesuffix("_min").removesuffix("_max")
        pair = (f"{base}_min", f"{base}_max")
        if base != f and all(p in FACT_FIELDS[kind] for p in pair):
            out[base] = pair
        else:
            out[f] = (f,)
    return out


def _words(kind: str, members: list[Member]) -> dict[str, list[Any]]:
    """Text and yes/no fields the members test differently: each value they may take."""
    fields = FACT_FIELDS[kind]
    tested: dict[str, set[str]] = {}
    for m in members:
        for k, t in m.pattern.where.items():
            if fields.get(k) in {"str", "bool"}:
                tested.setdefault(k, set()).add(repr(t))
    out: dict[str, list[Any]] = {}
    for k, tests in tested.items():
        same_everywhere = len(tests) == 1 and all(k in m.pattern.where for m in members)
        if same_everywhere:
            continue  # a shared condition (e.g. clinical: current) is context, not a split
        if fields[k] == "bool":
            out[k] = [True, False]
        else:
            # Only the values the rules name: a value none of them names (a cancelled order, say) is
            # outside the split and left to the criterion's default, which is never a pass.
            named = {v for m in members for v in _named_values(m, k)}
            allowed = FIELD_VALUES.get((kind, k))
            out[k] = sorted(named & set(allowed)) if isinstance(allowed, tuple) and named else sorted(named)
    return out


def _named_values(m: Member, field: str) -> set[str]:
    t = m.pattern.where.get(field)
    if t is None:
        return set()
    if not isinstance(t, dict):
        return {str(t)}
    return {str(v) for v in t.get("in", [])} | {str(t[op]) for op in ("eq", "ne") if op in t}


def _literal(m: Member, field: str) -> str:
    t = m.pattern.where.get(field)
    return str(t if not isinstance(t, dict) else t.get("eq", "other"))


def _context(members: list[Member], kind: str, words: dict[str, list[Any]]) -> set[str]:
    fields = FACT_FIELDS[kind]
    return {
        k
        for m in members
        for k in m.pattern.where
        if k not in SET_FIELD_OF and fields.get(k) in {"str", "bool"} and k not in words
    }


def check(rs: LoadedRuleset) -> list[Problem]:
    """Every gap and overlap in the criteria's threshold splits (empty when the splits are exact)."""
    problems: list[Problem] = []
    for (criterion, kind, _sets), members in sorted(groups(rs).items()):
        problems += _check_group(criterion, kind, members)
    return problems


Combo = tuple[dict[str, Any], ...]  # one point of the value space: a value per axis
Gaps = dict[tuple[Any, ...], list[tuple[Any, ...]]]  # fixed words -> the quantities no rule covers
Overlaps = dict[tuple[str, ...], tuple[Any, ...]]  # rules that disagree -> (words, quantity) of one point


def _check_group(criterion: str, kind: str, members: list[Member]) -> list[Problem]:
    numeric = {f for m in members for f in _numeric_fields(m.pattern)}
    words = _words(kind, members)
    axes = [_axis(kind, name, fields, members) for name, fields in _families(kind, numeric).items()]
    word_axes = [[{k: v} for v in values] for k, values in words.items()]
    combos = list(itertools.product(*axes, *word_axes))
    if len(combos) > _MAX_POINTS:
        return []
    gaps, overlaps = _scan(kind, members, combos, words, _context(members, kind, words))
    file = members[0].file
    ids = tuple(sorted({m.rule_id for m in members}))
    out = [Problem("gap", criterion, file, ids, _describe(kind, w, q)) for w, q in gaps.items()]
    out += [
        Problem("overlap", criterion, file, hits, _describe(kind, w, [q]))
        for hits, (w, q) in overlaps.items()
    ]
    return out


def _axis(kind: str, name: str, fields: tuple[str, ...], members: list[Member]) -> list[dict[str, Any]]:
    """The points to try for one quantity: one field, or a min/max pair bounding an uncertain value."""
    values = sorted({v for f in fields for v in _thresholds(members, f)})
    integral = field_unit(kind, fields[0]) in {"days", "years", "count"} and all(
        float(v).is_integer() for v in values
    )
    pts = _points(values, integral)
    if len(fields) == 2:
        return [{fields[0]: a, fields[1]: b, "_q": (name, a, b)} for a in pts for b in pts if a <= b]
    return [{fields[0]: a, "_q": (name, a, a)} for a in pts]


def _scan(
    kind: str, members: list[Member], combos: list[Combo], words: dict[str, list[Any]], context: set[str]
) -> tuple[Gaps, Overlaps]:
    """Every point covered by no rule (a gap) or by rules that disagree (an overlap)."""
    status = {m.rule_id: m.status for m in members}
    gaps: Gaps = {}
    overlaps: Overlaps = {}
    for combo in combos:
        fact = _fact(kind, combo)
        hits = tuple(m.rule_id for m in members if _matches(m.pattern, fact, context))
        label_words = tuple(sorted((k, v) for part in combo for k, v in part.items() if k in words))
        quantity = tuple(part["_q"] for part in combo if "_q" in part)
        if not hits:
            gaps.setdefault(label_words, []).append(quantity)
        elif len({status[h] for h in hits}) > 1:  # two rules agreeing on one point is no conflict
            overlaps.setdefault(tuple(sorted(set(hits))), (label_words, quantity))
    return gaps, overlaps


def _fact(kind: str, combo: Combo) -> dict[str, Any]:
    fact: dict[str, Any] = {"kind": kind}
    for part in combo:
        fact.update({k: v for k, v in part.items() if k != "_q"})
    for (k_kind, field, value), absent in FIELD_ABSENT_WHEN.items():
        if k_kind == kind and fact.get(field) == value:
            for name in absent:
                fact.pop(name, None)  # derive leaves these out for this value (unknown, not zero)
    return fact


def _matches(p: Pattern, fact: dict[str, Any], context: set[str]) -> bool:
    return all(_test(fact, k, t) for k, t in p.where.items() if k not in SET_FIELD_OF and k not in context)


def _describe(kind: str, words: tuple[Any, ...], quantities: list[tuple[Any, ...]]) -> str:
    """The uncovered region in the rules' words: fixed words, then each quantity's range."""
    parts = [f"{k}={v}" for k, v in words]
    by_name: dict[str, list[tuple[float, float]]] = {}
    for q in quantities:
        for name, a, b in q:
            by_name.setdefault(name, []).append((a, b))
    for name, spans in by_name.items():
        exact = sorted({a for a, b in spans if a == b})
        if exact:
            parts.append(f"{name} {_span(exact)}")
        else:
            a, b = min(spans)
            parts.append(f"{name} between {a:g} and {b:g} (uncertain value)")
    return f"{kind} with " + ", ".join(parts) if parts else kind


def _span(values: list[float]) -> str:
    return f"= {values[0]:g}" if len(values) == 1 else f"from {values[0]:g} to {values[-1]:g}"
