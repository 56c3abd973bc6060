"""Schema of the rule files in rules/: what a clinical informaticist may write.

A rule file reads like a protocol: each rule has an id, a version, a title, a plain statement,
its conditions (`when`), its outcome (`then`), evidence and a rationale. Unknown keys, unknown
fields, unknown value sets and duplicate ids are errors that stop start-up.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .vocabulary import FACT_FIELDS, SET_FIELD_OF, CriterionStatus, Decision, OverallResponse, ResponseStatus

RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
OPS = {"eq", "ne", "lt", "lte", "gt", "gte", "in", "exists"}

Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Evidence(_Strict):
    citation: str = Field(min_length=5)
    pmid: str | None = Field(default=None, pattern=r"^\d{5,9}$")
    doi: str | None = Field(default=None, pattern=r"^10\.\S+/\S+$")
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    grade: str | None = None

    @model_validator(mode="after")
    def _locatable(self) -> Evidence:
        if not (self.pmid or self.doi or self.url):
            raise ValueError("evidence needs a pmid, doi or url so a clinician can check it")
        return self


class Pattern(_Strict):
    """One fact the rule needs: its kind and the tests it must pass (all of them)."""

    fact: str
    where: dict[str, Scalar | dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_fields(self) -> Pattern:
        fields = FACT_FIELDS.get(self.fact)
        if fields is None:
            raise ValueError(f"unknown fact kind {self.fact!r}; known: {sorted(FACT_FIELDS)}")
        for name, test in self.where.items():
            target = SET_FIELD_OF.get(name, name)
            if target not in fields:
                raise ValueError(f"fact {self.fact!r} has no field {name!r}; known: {sorted(fields)}")
            if fields[target] == "set" and name not in SET_FIELD_OF:
                raise ValueError(f"use 'value_set:'/'text_value_set:'/'latest_in:' to test {name!r}")
            if isinstance(test, dict):
                _check_ops(name, test, set_field=fields[target] == "set")
        return self


def _check_ops(name: str, test: dict[str, Any], set_field: bool) -> None:
    if set_field:
        if (
            len(test) != 1
            or set(test) - {"any_of", "all_of"}
            or not isinstance(next(iter(test.values())), list)
        ):
            raise ValueError(
                f"{name}: write a single value set name, {{any_of: [names]}} or {{all_of: [names]}}"
            )
        return
    unknown = set(test) - OPS
    if unknown or not test:
        raise ValueError(f"{name}: unknown operator(s) {sorted(unknown)}; allowed: {sorted(OPS)}")
    if "in" in test and (not isinstance(test["in"], list) or not test["in"]):
        raise ValueError(f"{name}: 'in' needs a non-empty list")
    if "exists" in test and not isinstance(test["exists"], bool):
        raise ValueError(f"{name}: 'exists' takes true or false")


class Due(_Strict):
    anchor: Literal["start", "event", "therapy_start"] = "start"
    from_days: int
    to_days: int
    grace_days: int = Field(
        default=14, ge=0, le=90, description="A result this close to the window still counts."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Due:
        if self.to_days < self.from_days:
            raise ValueError("to_days must not be before from_days")
        return self


class CriterionOutcome(_Strict):
    criterion: str
    status: Literal["met", "not_met", "unknown"]
    pathway: str | None = None
    missing: str | None = Field(default=None, description="What is missing and where it is usually recorded.")


class HardStopOutcome(_Strict):
    hard_stop: str
    washout_days: int | None = Field(default=None, ge=1, le=90)


class CautionOutcome(_Strict):
    caution: str
    alert: str | None = Field(default=None, description="A same-day safety alert shown with the caution.")


class NoteOutcome(_Strict):
    note: str


class DecisionOutcome(_Strict):
    decision: Decision


class DoseStep(_Strict):
    dose_mg: float = Field(gt=0, le=50)
    timing: str
    from_week: int = Field(ge=0)
    to_week: int | None = Field(default=None, ge=0)


class TitrationOutcome(_Strict):
    titration: str
    steps: list[DoseStep] = Field(min_length=1)
    flag_above_mg: float = Field(gt=0)


class DoseAdjustmentOutcome(_Strict):
    dose_adjustment: str


class ReminderOutcome(_Strict):
    reminder: str
    what: str
    due: Due
    done_when: str | None = Field(
        default=None,
        description="Value set of an observation that marks the reminder done when dated in its window.",
    )


class TherapyOutcome(_Strict):
    therapy: Literal["on_ldn"]


class ResponseOutcome(_Strict):
    response: ResponseStatus


class AdverseEffectOutcome(_Strict):
    adverse_effect: str
    action: str
    serious: bool = False


class RecommendationOutcome(_Strict):
    recommendation: str
    response_status: OverallResponse


Outcome = (
    CriterionOutcome
    | HardStopOutcome
    | CautionOutcome
    | NoteOutcome
    | DecisionOutcome
    | TitrationOutcome
    | DoseAdjustmentOutcome
    | ReminderOutcome
    | TherapyOutcome
    | ResponseOutcome
    | AdverseEffectOutcome
    | RecommendationOutcome
)
OUTCOME_KEYS: dict[str, type[BaseModel]] = {
    "criterion": CriterionOutcome,
    "hard_stop": HardStopOutcome,
    "caution": CautionOutcome,
    "note": NoteOutcome,
    "decision": DecisionOutcome,
    "titration": TitrationOutcome,
    "dose_adjustment": DoseAdjustmentOutcome,
    "reminder": ReminderOutcome,
    "therapy": TherapyOutcome,
    "response": ResponseOutcome,
    "adverse_effect": AdverseEffectOutcome,
    "recommendation": RecommendationOutcome,
}


class Rule(_Strict):
    id: str
    version: str
    title: str = Field(min_length=3, max_length=120)
    statement: str = Field(min_length=10)
    when: list[Pattern] = Field(min_length=1)
    then: Annotated[Outcome, Field(union_mode="left_to_right")]
    evidence: list[Evidence] = Field(min_length=1)
    rationale: str = Field(min_length=10)
    counterfactual: str | None = Field(
        default=None,
        description="What would have to change for a different decision (may use {placeholders}).",
    )

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not RULE_ID.match(v):
            raise ValueError("rule id must look like ELIG-ADULT-01 (capitals, digits and dashes)")
        return v

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not SEMVER.match(v):
            raise ValueError("version must be MAJOR.MINOR.PATCH")
        return v

    @model_validator(mode="before")
    @classmethod
    def _pick_outcome(cls, data: Any) -> Any:
        # Choose the outcome model by its key so an error names the right fields.
        if isinstance(data, dict) and isinstance(data.get("then"), dict):
            keys = [k for k in data["then"] if k in OUTCOME_KEYS]
            if len(keys) != 1:
                raise ValueError(f"'then' needs exactly one of {sorted(OUTCOME_KEYS)}")
            data = dict(data, then=OUTCOME_KEYS[keys[0]].model_validate(data["then"]))
        return data

    def uses_text_matches(self) -> bool:
        return any("text_value_set" in p.where for p in self.when)


class CriterionDef(_Strict):
    id: str
    title: str
    question: str = Field(description="The question the criterion answers, in plain words.")
    required: bool = True
    default: CriterionStatus
    default_missing: str | None = Field(
        default=None, description="When nothing fired: what is missing and where it is usually recorded."
    )
    precedence: list[Literal["met", "not_met", "unknown"]] = Field(
        default=["met", "unknown", "not_met"], description="Which status wins when several rules fire."
    )
    applies_to_pathways: list[str] | None = None
    to_change: str | None = None

    @field_validator("id")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError("criterion id must be snake_case")
        return v


class FindingDef(_Strict):
    id: str
    title: str

    @field_validator("id")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError("id must be snake_case")
        return v


class RuleFile(_Strict):
    concern: Literal[
        "eligibility",
        "contraindications",
        "cautions",
        "therapy",
        "decision",
        "dosing",
        "monitoring",
        "follow_up",
    ]
    title: str
    description: str
    criteria: list[CriterionDef] = Field(default_factory=list)
    hard_stops: list[FindingDef] = Field(default_factory=list)
    cautions: list[FindingDef] = Field(default_factory=list)
    rules: list[Rule] = Field(min_length=1)


class Disclaimer(_Strict):
    """What every offer of LDN must say on its face (off-label, weak evidence): FDA CDS criterion 4."""

    summary: str = Field(min_length=3, max_length=60, description="Short form for a card's one-line summary.")
    text: str = Field(min_length=10, description="The full sentence shown at the top of the card and page.")
    evidence: list[Evidence] = Field(min_length=1)


class Manifest(_Strict):
    name: str
    version: str
    title: str
    description: str
    disclaimer: Disclaimer
    files: list[str] = Field(min_length=1)

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not SEMVER.match(v):
            raise ValueError("version must be MAJOR.MINOR.PATCH")
        return v
