"""Replay: decide a stored record again and say whether the same decision comes out.

The stored patient facts are assessed at the stored evaluation date (and the stored plan start,
when there was a plan), by whatever ruleset the engine holds. Two assessments count as identical
when the decision, every criterion status, the hard stops, cautions, earliest start, titration
start, monitoring reminders (ids and due dates) and the rules that fired are the same; wording
of explanations is not compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ldncds.engine import Assessment, Engine, EngineError, PatientFacts

from .interface import DecisionStore, StoredAssessment


class ReplayResult(BaseModel):
    assessment_id: str
    seq: int | None = None
    evaluation_date: date | None = None
    stored_decision: str | None = None
    replayed_decision: str | None = None
    stored_ruleset_version: str | None = None
    replayed_ruleset_version: str
    same_rules: bool = Field(description="The stored content hash equals the replaying ruleset's.")
    differences: list[str] = Field(default_factory=list, description="Readable, one change per line.")
    error: str | None = Field(default=None, description="Why the record could not be replayed.")

    @property
    def identical(self) -> bool:
        return self.error is None and not self.differences


def replay(store: DecisionStore, engine: Engine, ids: Iterable[str] | None) -> list[ReplayResult]:
    """Replay the given assessment ids (None: every stored assessment, oldest first)."""
    return list(iter_replay(store, engine, ids))


def iter_replay(store: DecisionStore, engine: Engine, ids: Iterable[str] | None) -> Iterator[ReplayResult]:
    if ids is None:
        records: Iterable[StoredAssessment | str] = store.iter_all()  # type: ignore[attr-defined]
    else:
        records = ids
    for item in records:
        stored = store.get(item) if isinstance(item, str) else item
        if stored is None:
            yield ReplayResult(
                assessment_id=str(item),
                replayed_ruleset_version=engine.version,
                same_rules=False,
                error="no such assessment in the log",
            )
            continue
        yield replay_one(stored, engine)


def replay_one(stored: StoredAssessment, engine: Engine) -> ReplayResult:
    result = ReplayResult(
        assessment_id=stored.id,
        seq=stored.seq,
        evaluation_date=stored.evaluation_date,
        stored_decision=stored.decision,
        stored_ruleset_version=stored.ruleset_version,
        replayed_ruleset_version=engine.version,
        same_rules=stored.ruleset_hash == engine.ruleset.content_hash,
    )
    try:
        before = Assessment.model_validate(stored.assessment)
        facts = PatientFacts.model_validate(stored.facts)
        after = engine.assess(facts, stored.evaluation_date, planned_start=planned_start(before))
    except ValidationError as exc:
        result.error = f"the stored record no longer reads as facts/assessment ({exc.error_count()} errors)"
        return result
    except EngineError as exc:
        result.error = f"the rule engine failed: {exc}"
        return result
    result.replayed_decision = after.decision
    result.differences = differences(before, after)
    return result


def planned_start(assessment: Assessment) -> date | None:
    """The start date the caller planned, recoverable from the stored plan (reminders count from it)."""
    return assessment.plan.start_date if assessment.plan else None


def differences(before: Assessment, after: Assessment) -> list[str]:
    """What changed from `before` to `after`, in words an auditor reads; [] when nothing that matters did."""
    out: list[str] = []
    if before.decision != after.decision:
        out.append(f"decision: {before.decision} -> {after.decision}")
    out += _changed("earliest start", before.earliest_start, after.earliest_start)
    out += _criteria(before, after)
    out += _sets("hard stop", _hard_stops(before), _hard_stops(after))
    out += _sets("caution", {c.id for c in before.cautions}, {c.id for c in after.cautions})
    out += _changed("titration start", _plan(before), _plan(after))
    out += _sets("reminder", _reminders(before), _reminders(after))
    out += _sets("rule fired", set(before.rules_fired), set(after.rules_fired))
    return out


def _changed(label: str, old: Any, new: Any) -> list[str]:
    return [] if old == new else [f"{label}: {_show(old)} -> {_show(new)}"]


def _show(value: Any) -> str:
    return "none" if value is None else str(value)


def _criteria(before: Assessment, after: Assessment) -> list[str]:
    old = {c.id: c.status for c in before.criteria}
    new = {c.id: c.status for c in after.criteria}
    return [
        f"criterion {cid}: {old.get(cid, 'absent')} -> {new.get(cid, 'absent')}"
        for cid in [*old, *(c for c in new if c not in old)]
        if old.get(cid) != new.get(cid)
    ]


def _sets(label: str, old: set[str], new: set[str]) -> list[str]:
    gone = [f"{label} no longer: {x}" for x in sorted(old - new)]
    return gone + [f"{label} now: {x}" for x in sorted(new - old)]


def _hard_stops(a: Assessment) -> set[str]:
    return {f"{h.id} ({h.culprit.source})" for h in a.hard_stops}


def _plan(a: Assessment) -> str | None:
    return f"{a.plan.id} from {a.plan.start_date}" if a.plan else None


def _reminders(a: Assessment) -> set[str]:
    return {f"{r.id} due {r.due_from} to {r.due_by}" for r in a.reminders}
