"""Rule-change impact: decide a population under a baseline ruleset and the current one, and count
how decisions move (e.g. candidate -> contraindicated), with the rules responsible.

The population is either the stored decision log (each record at its own evaluation date) or a FHIR
bulk export folder, all at one date, read as screening reads it (screening/population.py). Examples
are assessment ids or ids of the resources behind the change, never names; a patient id is never
printed.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import BaseModel, Field

from ldncds.engine import (
    Assessment,
    Engine,
    EngineError,
    Explanation,
    LoadedRuleset,
    PatientFacts,
    default_rules_dir,
)

from .interface import StoredAssessment
from .replay import planned_start

ERROR = "error"
MAX_EXAMPLES = 3


class ImpactError(ValueError):
    """The baseline or the population cannot be read (the message says which and why)."""


class RulesetInfo(BaseModel):
    label: str = Field(description="Folder or git revision it came from.")
    version: str
    content_hash: str


class RuleChange(BaseModel):
    rule_id: str
    change: str = Field(description="added, removed or edited (from baseline to current).")


class ResponsibleRule(BaseModel):
    rule_id: str
    fired_under: str = Field(description="baseline (only), current (only), or both (rule edited).")
    patients: int


class Transition(BaseModel):
    from_decision: str
    to_decision: str
    patients: int
    examples: list[str] = Field(description="Assessment ids or resource ids (never names or patient ids).")
    rules: list[ResponsibleRule]


class ImpactReport(BaseModel):
    baseline: RulesetInfo
    current: RulesetInfo
    population: str
    evaluation_date: date | None = Field(description="For an export; None when each record keeps its own.")
    evaluated: int = 0
    changed: int = 0
    unchanged: dict[str, int] = Field(default_factory=dict)
    transitions: list[Transition] = Field(default_factory=list)
    rule_changes: list[RuleChange] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list, description="Unreadable input, by file and line.")


@dataclass
class Subject:
    """One patient to decide twice. `label` is shown as the example unless a resource id is better."""

    label: str
    facts: PatientFacts | None
    evaluation_date: date
    planned_start: date | None = None
    error: str | None = None
    prefer_resource_id: bool = False


@dataclass
class _Tally:
    patients: int = 0
    examples: list[str] = field(default_factory=list)
    rules: Counter[tuple[str, str]] = field(default_factory=Counter)


# ---------------------------------------------------------------------- the computation


def impact(
    baseline: Engine,
    current: Engine,
    subjects: Iterable[Subject],
    *,
    population: str,
    evaluation_date: date | None = None,
    baseline_label: str = "baseline",
    current_label: str = "current",
) -> ImpactReport:
    """Decide every subject under both rulesets and tabulate the decisions that moved."""
    changes = rule_changes(baseline.ruleset, current.ruleset)
    changed = {c.rule_id for c in changes}
    findings = {
        r
        for rs in (baseline.ruleset, current.ruleset)
        for r, lr in rs.rules.items()
        if lr.phase == "findings"
    }
    report = ImpactReport(
        baseline=_info(baseline.ruleset, baseline_label),
        current=_info(current.ruleset, current_label),
        population=population,
        evaluation_date=evaluation_date,
        rule_changes=changes,
    )
    tallies: dict[tuple[str, str], _Tally] = {}
    unchanged: Counter[str] = Counter()
    for subject in subjects:
        report.evaluated += 1
        before, after = _decide(baseline, subject), _decide(current, subject)
        old, new = _decision(before), _decision(after)
        if old == new:
            unchanged[old] += 1
            continue
        tally = tallies.setdefault((old, new), _Tally())
        tally.patients += 1
        rules = responsible_rules(before, after, findings, changed)
        tally.rules.update(rules)
        if len(tally.examples) < MAX_EXAMPLES:
            tally.examples.append(_example(subject, before, after, rules))
    report.changed = sum(t.patients for t in tallies.values())
    report.unchanged = dict(sorted(unchanged.items()))
    ordered = sorted(tallies.items(), key=lambda kv: -kv[1].patients)
    report.transitions = [_transition(key, tally) for key, tally in ordered]
    return report


def rule_changes(baseline: LoadedRuleset, current: LoadedRuleset) -> list[RuleChange]:
    """Rules added, removed or edited between two rulesets (an edited value set shows as no rule)."""
    old, new = baseline.rules, current.rules
    out = [RuleChange(rule_id=r, change="removed") for r in old if r not in new]
    out += [RuleChange(rule_id=r, change="added") for r in new if r not in old]
    out += [
        RuleChange(rule_id=r, change="edited")
        for r in new
        if r in old and old[r].rule.model_dump(mode="json") != new[r].rule.model_dump(mode="json")
    ]
    return sorted(out, key=lambda c: c.rule_id)


def responsible_rules(
    before: Assessment | str, after: Assessment | str, findings: set[str], changed: set[str]
) -> list[tuple[str, str]]:
    """(rule id, fired under) for the rules behind a changed decision.

    First the findings rules (eligibility, contraindications, cautions) that fired under one ruleset
    only; the decision, dosing and monitoring rules that follow from them are left out unless they
    were themselves changed. When no rule fired differently, the changed rules that fired under both.
    """
    fired_before = set(before.rules_fired) if isinstance(before, Assessment) else set()
    fired_after = set(after.rules_fired) if isinstance(after, Assessment) else set()
    causes = findings | changed
    out = [(r, "baseline") for r in sorted(fired_before - fired_after) if r in causes]
    out += [(r, "current") for r in sorted(fired_after - fired_before) if r in causes]
    return out or [(r, "both") for r in sorted(fired_before & fired_after & changed)]


def _decide(engine: Engine, subject: Subject) -> Assessment | str:
    if subject.facts is None:
        return subject.error or "no facts"
    try:
        return engine.assess(subject.facts, subject.evaluation_date, planned_start=subject.planned_start)
    except EngineError as exc:
        return f"the rule engine failed: {exc}"


def _decision(result: Assessment | str) -> str:
    return result.decision if isinstance(result, Assessment) else ERROR


def _info(ruleset: LoadedRuleset, label: str) -> RulesetInfo:
    return RulesetInfo(label=label, version=ruleset.version, content_hash=ruleset.content_hash)


def _transition(key: tuple[str, str], tally: _Tally) -> Transition:
    rules = [
        ResponsibleRule(rule_id=r, fired_under=w, patients=n)
        for (r, w), n in sorted(tally.rules.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return Transition(
        from_decision=key[0],
        to_decision=key[1],
        patients=tally.patients,
        examples=tally.examples,
        rules=rules,
    )


def _example(
    subject: Subject, before: Assessment | str, after: Assessment | str, rules: list[tuple[str, str]]
) -> str:
    """The subject's label, or (for an export) the first record a responsible rule cited."""
    if not subject.prefer_resource_id:
        return subject.label
    wanted = {r for r, _ in rules}
    for result in (before, after):
        if isinstance(result, Assessment):
            for explanation in _explanations(result):
                if explanation.rule_id in wanted:
                    for fact in explanation.facts:
                        if "/" in fact.source and not fact.source.startswith("Patient/"):
                            return fact.source
    return subject.label


def _explanations(a: Assessment) -> Iterator[Explanation]:
    for c in a.criteria:
        yield from c.explanations
    for h in a.hard_stops:
        yield from h.explanations
    for caution in a.cautions:
        yield from caution.explanations
    yield from (n.explanation for n in a.notes)
    if a.plan:
        yield a.plan.explanation
        yield from (n.explanation for n in a.plan.adjustments)
    yield from (r.explanation for r in a.reminders)
    yield a.explanation


# ---------------------------------------------------------------------- populations


def stored_population(records: Iterable[StoredAssessment]) -> Iterator[Subject]:
    """Stored decisions, each at its own evaluation date (and planned start); the label is the id."""
    for stored in records:
        try:
            facts = PatientFacts.model_validate(stored.facts)
            start = planned_start(Assessment.model_validate(stored.assessment))
        except ValueError:
            yield Subject(stored.id, None, stored.evaluation_date, error="stored record unreadable")
            continue
        yield Subject(stored.id, facts, stored.evaluation_date, start)


# ---------------------------------------------------------------------- the baseline ruleset


@contextlib.contextmanager
def baseline_rules(spec: str, current_rules: Path) -> Iterator[tuple[Path, str]]:
    """A rules folder as given, or the rules folder at a git revision (extracted to a temp dir)."""
    folder = Path(spec)
    if folder.is_dir():
        yield folder, str(folder)
        return
    top, rel = _git_location(current_rules)
    archive = subprocess.run(
        ["git", "-C", str(top), "archive", "--format=tar", spec, "--", rel],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        reason = archive.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ImpactError(
            f"baseline {spec!r} is neither a rules folder nor a git revision with {rel}/"
            + (f" ({reason[-1]})" if reason else "")
        )
    with tempfile.TemporaryDirectory(prefix="ldncds-baseline-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp) / rel, f"{spec}:{rel}"


def _git_location(current_rules: Path) -> tuple[Path, str]:
    """The repository and rules path a git revision is read from: the current rules' own, or (for
    new rules kept anywhere outside a repository) the project's rules/ folder."""
    for where in (current_rules.resolve(), default_rules_dir().resolve()):
        top = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
        if top.returncode == 0:
            root = Path(top.stdout.strip()).resolve()
            if where.is_relative_to(root):
                return root, where.relative_to(root).as_posix()
    raise ImpactError(
        f"baseline is not a folder, and neither {current_rules} nor the project's rules "
        "are inside a git repository"
    )
