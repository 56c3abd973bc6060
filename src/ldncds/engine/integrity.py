"""Ruleset integrity: rules/ruleset.lock records what the ruleset must contain.

A rule file truncated at a rule boundary, or a value set cut in half, is still valid YAML or CSV;
only a record of what was there shows the loss. The lock keeps each rule file's rule ids and each
value set's row count and the hash of its codes (display wording may change freely).
Editing a rule's content needs no new lock (the ruleset version's content hash already shows
it); adding or removing a rule, or any change of codes, does: run `ldncds rules lock`, which
prints what changed, and commit the lock with the edit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from .loader import ValueSetRow, ValueSets
    from .ruleschema import RuleFile

LOCK = "ruleset.lock"
HOW_TO_FIX = "if the change is intended, run `ldncds rules lock` and commit rules/ruleset.lock"
_HEADER = (
    "# Written by `ldncds rules lock`: the rule ids of each rule file and the size and content hash\n"
    "# of each value set. The service refuses to start when the rules no longer match this record.\n"
)


def valueset_digest(rows: Sequence[ValueSetRow]) -> str:
    """Hash of what matches (system, code, match); display and note wording may change freely."""
    keys = sorted(f"{r.system}|{r.code}|{r.match}" for r in rows)
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def compute(directory: Path, files: dict[str, RuleFile], valuesets: ValueSets) -> dict[str, Any]:
    """The lock content for a loaded ruleset (sorted, so the file is stable under git)."""
    return {
        "rule_files": {name: {"rules": [r.id for r in rf.rules]} for name, rf in sorted(files.items())},
        "valuesets": {
            name: {
                "rows": len(valuesets.rows.get(name, [])),
                "sha256": valueset_digest(valuesets.rows.get(name, [])),
            }
            for name in sorted(valuesets.names | _empty_sets(directory))
        },
    }


def _empty_sets(directory: Path) -> set[str]:
    # A header-only CSV adds no name to ValueSets, but it is still a file the lock must record.
    return {p.stem for p in (directory / "valuesets").glob("*.csv")}


def read(directory: Path) -> dict[str, Any] | None:
    path = directory / LOCK
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def problems(expected: dict[str, Any] | None, actual: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(file, message, rule id) for each difference between the lock and the rules as loaded."""
    from .loader import VALUESET_DIR

    if expected is None:
        return [(LOCK, "missing or unreadable", None)]
    out: list[tuple[str, str, str | None]] = []
    old_files, new_files = expected.get("rule_files") or {}, actual["rule_files"]
    for name in sorted(set(old_files) | set(new_files)):
        old = (old_files.get(name) or {}).get("rules", [])
        new = (new_files.get(name) or {}).get("rules", [])
        if name not in new_files:
            out.append((name, "rule file recorded in the lock is not loaded", None))
            continue
        out += [
            (name, "rule in the lock is missing from the file (file truncated or rule deleted?)", r)
            for r in old
            if r not in new
        ]
        out += [(name, "rule added since the lock", r) for r in new if r not in old]
    old_sets, new_sets = expected.get("valuesets") or {}, actual["valuesets"]
    for name in sorted(set(old_sets) | set(new_sets)):
        label = f"{VALUESET_DIR}/{name}.csv"
        old, new = old_sets.get(name), new_sets.get(name)
        if new is None:
            out.append((label, "value set recorded in the lock is missing", None))
        elif old is None:
            out.append((label, f"value set added since the lock ({new['rows']} rows)", None))
        elif old != new:
            size = f"{old.get('rows')} rows in the lock, {new['rows']} now"
            out.append((label, f"codes changed since the lock ({size})", None))
    return out


def check(directory: Path, files: dict[str, RuleFile], valuesets: ValueSets) -> None:
    """Refuse a ruleset that differs from its lock, naming the first difference and how to fix it."""
    from .loader import RulesetError

    found = problems(read(directory), compute(directory, files, valuesets))
    if found:
        file, message, rule_id = found[0]
        more = f" (and {len(found) - 1} more difference(s))" if len(found) > 1 else ""
        raise RulesetError(file, f"{message}{more}; {HOW_TO_FIX}", rule_id)


def write(directory: Path, files: dict[str, RuleFile], valuesets: ValueSets) -> list[str]:
    """Rewrite the lock; returns the changes in words (empty when nothing changed)."""
    old = read(directory)
    new = compute(directory, files, valuesets)
    changes = [
        f"{file}: {message}" + (f": {rule_id}" if rule_id else "")
        for file, message, rule_id in problems(old, new)
    ]
    text = _HEADER + yaml.safe_dump(new, sort_keys=True, default_flow_style=False, width=100)
    path = directory / LOCK
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_suffix(".lock.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # atomic: a crash never leaves half a lock
    return changes
