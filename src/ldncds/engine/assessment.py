"""The engine's output: a decision with every part explained."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

from .facts import DataNote
from .vocabulary import CriterionStatus, Decision, OverallResponse, ResponseStatus


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FactCitation(_Out):
    """A patient fact a rule used, and the record it came from."""

    source: str = Field(description="The record, e.g. 'MedicationRequest/mr-9'.")
    kind: str
    display: str
    date: str | None = None
    detail: str | None = None


class EvidenceRef(_Out):
    citation: str
    pmid: str | None = None
    doi: str | None = None
    url: str | None = None
    grade: str | None = None


class Explanation(_Out):
    rule_id: str
    rule_version: str
    title: str
    statement: str
    facts: list[FactCitation] = Field(default_factory=list)
    evidence: list[EvidenceRef] = Field(default_factory=list)
    rationale: str
    counterfactual: str | None = None


class CriterionResult(_Out):
    id: str
    title: str
    question: str
    status: CriterionStatus
    required: bool
    basis: str = Field(description="Why the status is what it is, in one sentence.")
    missing: str | None = Field(
        default=None, description="For unknown: what is missing and where it is recorded."
    )
    to_change: str | None = None
    pathways: list[str] = Field(default_factory=list)
    explanations: list[Explanation] = Field(default_factory=list)


class HardStop(_Out):
    id: str
    title: str
    culprit: FactCitation = Field(description="The medication, condition, result or allergy behind it.")
    earliest_start: date | None = Field(
        default=None, description="First day naltrexone could start once the washout has passed, if any."
    )
    explanations: list[Explanation]


class Caution(_Out):
    id: str
    title: str
    culprits: list[FactCitation]
    alert: str | None = None
    explanations: list[Explanation]


class Note(_Out):
    text: str
    explanation: Explanation


class DoseStep(_Out):
    dose_mg: float
    timing: str
    from_week: int
    to_week: int | None = None
    starts_on: date
    above_flag: bool = Field(description="True when this step exceeds the plan's flag threshold.")


class TitrationPlan(_Out):
    id: str
    start_date: date
    steps: list[DoseStep]
    target_mg: float
    flag_above_mg: float
    flagged: bool = Field(
        description="True when any step exceeds the flag threshold (above the studied range)."
    )
    adjustments: list[Note] = Field(default_factory=list)
    explanation: Explanation


class MonitoringReminder(_Out):
    id: str
    what: str
    due_from: date
    due_by: date
    state: Literal["upcoming", "due", "overdue", "done"] = Field(
        default="upcoming", description="On the evaluation date: not yet due, due now, overdue, or done."
    )
    days_overdue: int | None = None
    done_by: FactCitation | None = Field(default=None, description="The result that shows it was done.")
    explanation: Explanation


class ResultPoint(_Out):
    date: date
    value: float
    source: str


class Threshold(_Out):
    label: str
    value: float


class InstrumentResponse(_Out):
    """Change of one outcome measure since baseline, judged against its response thresholds."""

    instrument: str
    status: ResponseStatus
    baseline: ResultPoint | None = None
    latest: ResultPoint | None = None
    change_abs: float | None = None
    change_pct: float | None = None
    series: list[ResultPoint] = Field(default_factory=list)
    thresholds: list[Threshold] = Field(
        default_factory=list, description="Values that would count as a response."
    )
    explanations: list[Explanation] = Field(default_factory=list)


class AdverseEffect(_Out):
    id: str
    action: str
    serious: bool
    culprit: FactCitation
    explanation: Explanation


class TherapyStatus(_Out):
    """A patient already taking LDN: dose, time on therapy, response and adverse effects."""

    source: str
    daily_dose_mg: float | None
    start_date: date
    dose_since: date | None = None
    weeks_on_therapy: int
    response_status: OverallResponse | None = None
    recommendation: str | None = None
    instruments: list[InstrumentResponse] = Field(default_factory=list)
    adverse_effects: list[AdverseEffect] = Field(default_factory=list)
    explanation: Explanation
    recommendation_explanation: Explanation | None = None


class MissingItem(_Out):
    criterion: str
    what: str
    note: str | None = Field(
        default=None, description="For `also_missing`: why this decision does not depend on it."
    )


class Disclaimer(_Out):
    """What the ruleset says on every offer of LDN (off-label, weak and conflicting evidence)."""

    summary: str = Field(description="Short form, for a one-line summary.")
    text: str
    evidence: list[EvidenceRef] = Field(default_factory=list)


class Assessment(_Out):
    """A complete, explained LDN candidacy assessment.

    Deterministic for (patient facts, ruleset_version, evaluation_date).
    """

    assessment_id: str | None = None
    decision: Decision
    reason: str = Field(description="One line: the decision and its main reason.")
    evaluation_date: date
    ruleset_version: str
    earliest_start: date | None = None
    criteria: list[CriterionResult]
    hard_stops: list[HardStop] = Field(default_factory=list)
    cautions: list[Caution] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    alerts: list[str] = Field(default_factory=list, description="Same-day safety alerts.")
    plan: TitrationPlan | None = None
    therapy: TherapyStatus | None = None
    reminders: list[MonitoringReminder] = Field(default_factory=list)
    missing: list[MissingItem] = Field(
        default_factory=list, description="What is missing that this decision depends on."
    )
    also_missing: list[MissingItem] = Field(
        default_factory=list,
        description="Also unknown, but not what this decision turns on (e.g. treatment histories behind "
        "a hard stop, or a criterion of a pathway not yet established); each says why.",
    )
    counterfactuals: list[str] = Field(default_factory=list, description="What would change this decision.")
    data_notes: list[DataNote] = Field(
        default_factory=list, description="Records that could not be read or were read with a caveat."
    )
    disclaimer: Disclaimer | None = Field(
        default=None, description="The ruleset's statement on LDN's off-label use and evidence."
    )
    explanation: Explanation
    rules_fired: list[str] = Field(default_factory=list)


M = TypeVar("M", bound=BaseModel)
# True: every part is validated as it is built (the reference the differential tests compare with).
_VALIDATE: ContextVar[bool] = ContextVar("ldncds_validate_output", default=False)
_FIELDS: dict[type[BaseModel], _Plan] = {}  # per model class, built on first use


@contextmanager
def validating() -> Iterator[None]:
    """Build every output part with full pydantic validation (tests: the slow, reference path)."""
    token = _VALIDATE.set(True)
    try:
        yield
    finally:
        _VALIDATE.reset(token)


def built(cls: type[M], /, **values: Any) -> M:
    """`cls(**values)` for values the engine made from validated parts, without validating them again.

    Only for fields whose values already have the declared type exactly (no coercion: never an int
    for a float, a datetime for a date); tests/engine/test_fast_output.py compares it with the
    validated path. The instance is what `model_construct` gives: defaults filled, in field order
    (the order the serialiser writes), fields set as given. Fastest with every field, in order."""
    if _VALIDATE.get():
        return cls(**values)
    plan = _FIELDS.get(cls) or _field_plan(cls)
    if tuple(values) == plan.order:
        state = values
    elif plan.names.issuperset(values) and plan.required.issubset(values):
        state = {name: values[name] if name in values else plan.default(name) for name in plan.order}
    else:
        return cls(**values)  # validation says what is wrong
    obj = cls.__new__(cls)
    _setattr(obj, "__dict__", state)
    _setattr(obj, "__pydantic_fields_set__", set(values))
    _setattr(obj, "__pydantic_extra__", None)
    _setattr(obj, "__pydantic_private__", None)
    return obj


_setattr = object.__setattr__


@dataclass(frozen=True, slots=True)
class _Plan:
    order: tuple[str, ...]
    names: frozenset[str]
    required: frozenset[str]
    fields: dict[str, FieldInfo]

    def default(self, name: str) -> Any:
        # FieldInfo.get_default inspects the factory's signature on every call (20 µs each in
        # screening mode); the engine's factories take no arguments.
        field = self.fields[name]
        if field.default_factory is not None:
            return field.default_factory()  # type: ignore[call-arg]
        return copy.deepcopy(field.default) if isinstance(field.default, list | dict | set) else field.default


def _field_plan(cls: type[BaseModel]) -> _Plan:
    fields = dict(cls.model_fields)
    required = frozenset(name for name, f in fields.items() if f.is_required())
    _FIELDS[cls] = _Plan(tuple(fields), frozenset(fields), required, fields)
    return _FIELDS[cls]
