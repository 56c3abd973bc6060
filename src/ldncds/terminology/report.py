"""What an import or refresh changes, in words: per value set, rows added and removed, and the rules
and Gherkin scenarios that read the set (the ones a reviewer must re-read and re-run)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from ldncds.engine import LoadedRuleset, ReminderOutcome

from .importer import Plan, SetDiff, Skipped

SET_KEYS = ("value_set", "text_value_set", "latest_in")


def rules_using(rs: LoadedRuleset, name: str) -> list[str]:
    """Ids of the rules that read value set `name` (in a `when` test or as `done_when`)."""
    found: list[str] = []
    for rule_id, lr in rs.rules.items():
        names: set[str] = set()
        for pattern in lr.rule.when:
            for key in SET_KEYS:
                test = pattern.where.get(key)
                if isinstance(test, dict):
                    names |= set(next(iter(test.values())))
                elif test is not None:
                    names.add(str(test))
        if isinstance(lr.rule.then, ReminderOutcome) and lr.rule.then.done_when:
            names.add(lr.rule.then.done_when)
        if name in names:
            found.append(rule_id)
    return found


def scenarios_citing(features_dir: Path, rule_ids: list[str]) -> list[str]:
    """`file:line name` of every scenario that names one of the rules."""
    from ldncds.pages.rulebook import scenarios_by_rule  # the rulebook's own scan: one definition

    by_rule = scenarios_by_rule(features_dir)
    seen = dict.fromkeys(f"{s.file}:{s.line} {s.name}" for r in rule_ids for s in by_rule.get(r, []))
    return list(seen)


def _row(row: dict[str, str]) -> str:
    return f"{row['system']} {row['code']}  {row['display']}".rstrip()


def format_diff(
    diff: SetDiff,
    rs: LoadedRuleset | None,
    features_dir: Path | None,
    *,
    limit: int = 20,
) -> list[str]:
    """The diff in words; `limit` rows are listed per kind of change, or every row when it is 0."""
    if limit < 0:
        raise ValueError(f"limit must be 0 (every row) or more, not {limit}")
    limit = limit or sys.maxsize
    lines = [_headline(diff)]
    for plan in diff.plans:
        lines += _plan_lines(plan)
    lines += _unlinked_lines(diff.unlinked, limit)
    lines += _row_lines("+", diff.added, limit)
    lines += _row_lines("-", diff.removed, limit)
    # rules and scenarios are listed only when some row changed: otherwise there is nothing to re-read
    if rs is not None and (diff.added or diff.removed or diff.unlinked):
        lines += _affected_lines(rs, diff.name, features_dir, limit)
    return lines


def _headline(diff: SetDiff) -> str:
    """Row counts before and after, and what happens to rows the source no longer lists."""
    if diff.pruned:
        fate = ", removed"
    elif diff.removed:
        fate = ", kept (use --prune to remove)"
    else:
        fate = ""
    return (
        f"{diff.name}: {diff.before} -> {diff.after} rows"
        f" (+{len(diff.added)} added, -{len(diff.removed)} no longer listed by their source{fate})"
    )


def _plan_lines(plan: Plan) -> list[str]:
    """Which edition of which source was read, what it contributed, and what was skipped and why."""
    src = plan.source
    where = src.url or src.oid or src.file
    lines = [
        f"  source {src.id}: {src.title} [{where}] version {src.version or '-'} date {src.date or '-'}:"
        f" {len(plan.codes)} codes taken, {plan.filtered} filtered out by the recipe"
    ]
    lines += [
        f"    skipped {count} codes of unknown system {system}"
        for system, count in sorted(plan.skipped_systems.items())
    ]
    lines += [f"    note: {n}" for n in plan.notes]
    return lines


def _unlinked_lines(unlinked: list[dict[str, str]], limit: int) -> list[str]:
    """Rows one source dropped but another still lists: kept, and named so a reviewer sees them."""
    if not unlinked:
        return []
    return [
        f"  ~ {len(unlinked)} rows no longer listed by one source but still by another (kept): "
        + ", ".join(f"{r['system']} {r['code']}" for r in unlinked[:limit])
    ]


def _row_lines(sign: str, rows: list[dict[str, str]], limit: int) -> list[str]:
    """Up to `limit` added (+) or removed (-) rows, then how many more, counted per code system."""
    lines = [f"  {sign} {_row(row)}" for row in rows[:limit]]
    if len(rows) > limit:
        by_system = Counter(r["system"] for r in rows[limit:])
        lines.append(f"  {sign} ... and {len(rows) - limit} more ({dict(by_system)})")
    return lines


def _affected_lines(rs: LoadedRuleset, name: str, features_dir: Path | None, limit: int) -> list[str]:
    """The rules that read the changed set and, if the features are at hand, the scenarios to re-run."""
    rules = rules_using(rs, name)
    lines = [f"  rules affected: {', '.join(rules) if rules else 'none (no rule reads this set)'}"]
    if features_dir is not None and rules:
        scenarios = scenarios_citing(features_dir, rules)
        lines.append(f"  scenarios to re-run: {len(scenarios)}")
        lines += [f"    {s}" for s in scenarios[:limit]]
    return lines


def format_skipped(skipped: list[Skipped]) -> list[str]:
    return [f"skipped {s.file}: {s.reason}" for s in skipped]
