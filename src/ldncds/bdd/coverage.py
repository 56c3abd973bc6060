"""Which rules each Gherkin scenario proves: read from the 'cites rule X' steps."""

from __future__ import annotations

import re
from pathlib import Path

CITES = re.compile(r"^\s*(?:Then|And|But)\s+(?:the explanation|the card) cites rule ([A-Z][A-Z0-9-]+)\s*$")
SCENARIO = re.compile(r"^\s*Scenario(?: Outline)?:\s*(.+?)\s*$")


def scenario_rules(feature: Path) -> dict[str, list[str]]:
    """Scenario name -> rule ids it proves, in the order written."""
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in feature.read_text(encoding="utf-8").splitlines():
        if m := SCENARIO.match(line):
            current = m.group(1)
            out[current] = []
        elif (m := CITES.match(line)) and current is not None:
            out[current].append(m.group(1))
    return out


def rules_proven(features_dir: Path) -> dict[str, list[str]]:
    """Rule id -> 'file: scenario' entries that prove it."""
    proven: dict[str, list[str]] = {}
    for feature in sorted(features_dir.rglob("*.feature")):
        for name, rules in scenario_rules(feature).items():
            for rule in rules:
                proven.setdefault(rule, []).append(f"{feature.relative_to(features_dir)}: {name}")
    return proven
