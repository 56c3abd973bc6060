"""What an import or refresh changes, in words: per value set, rows added and removed, and the rules
and Gherkin scenarios that read the set (the ones a reviewer must re-read and re-run)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ldncds.engine import LoadedRuleset, ReminderOutcome

from .importer import SetDiff, Skipped

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
    lines = [
        f"{diff.name}: {diff.before} -> {diff.after} rows"
        f" (+{len(diff.added)} added, -{len(diff.removed)} no longer listed by their source"
        f"{', removed' if diff.pruned else ', kept (use --prune to remove)' if diff.removed else ''})"
    ]
    for plan in diff.plans:
        src = plan.source
        where = src.url or src.oid or src.file
        lines.append(
            f"  source {src.id}: {src.title} [{where}] version {src.version or '-'} date {src.date or '-'}:"
            f" {len(plan.codes)} codes taken, {plan.filtered} filtered out by the recipe"
        )
        for system, count in sorted(plan.skipped_systems.items()):
            lines.append(f"    skipped {count} codes of unknown system {system}")
        lines += [f"    note: {n}" for n in plan.notes]
    if diff.unlinked:
        lines.append(
            f"  ~ {len(diff.unlinked)} rows no longer listed by one source but still by another (kept): "
            + ", ".join(f"{r['system']} {r['code']}" for r in diff.unlinked[:limit])
        )
    for sign, rows in (("+", diff.added), ("-", diff.removed)):
        for row in rows[:limit]:
            lines.append(f"  {sign} {_row(row)}")
        if len(rows) > limit:
            by_system = Counter(r["system"] for r in rows[limit:])
            lines.append(f"  {sign} ... and {len(rows) - limit} more ({dict(by_system)})")
    if rs is not None and (diff.added or diff.removed or diff.unlinked):
        rules = rules_using(rs, diff.name)
        lines.append(f"  rules affected: {', '.join(rules) if rules else 'none (no rule reads this set)'}")
        if features_dir is not None and rules:
            scenarios = scenarios_citing(features_dir, rules)
            lines.append(f"  scenarios to re-run: {len(scenarios)}")
            lines += [f"    {s}" for s in scenarios[:limit]]
    return lines


def format_skipped(skipped: list[Skipped]) -> list[str]:
    return [f"skipped {s.file}: {s.reason}" for s in skipped]
