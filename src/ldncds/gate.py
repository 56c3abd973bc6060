"""The checks a ruleset passes before it may serve: load (schema, references, lock), threshold
splits without gaps or overlaps, compilation into durable_rules, and optionally the scenarios.

`ldncds rules check` and `ldncds serve` both call check_ruleset, so they refuse the same edits
with the same one-line message.
"""

from __future__ import annotations

from pathlib import Path

from ldncds.engine import Engine, LoadedRuleset, RulesetError, load_ruleset
from ldncds.engine import check as check_value_space


class GateError(Exception):
    """The ruleset may not serve; the message names the file and rule (or the scenario)."""


def check_ruleset(directory: Path, *, scenarios: bool = False) -> tuple[LoadedRuleset, list[str]]:
    """The loaded ruleset and a report of what was checked; GateError on the first problem."""
    try:
        rs = load_ruleset(directory)
    except RulesetError as exc:
        raise GateError(str(exc)) from exc
    if problems := check_value_space(rs):
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise GateError(f"{problems[0]}{more}")
    Engine(rs)  # compiles into durable_rules too: registration errors surface here
    report = ["threshold splits: no gap, no overlap"]
    if scenarios:
        from .bdd.commands import scenario_gate  # pytest and pytest-bdd only when asked

        failures, count, seconds = scenario_gate(rs.directory)
        if failures:
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise GateError(f"scenario failed: {failures[0]}{more}")
        report.append(f"scenarios: {count} passed in {seconds:.1f} s")
    return rs, report
