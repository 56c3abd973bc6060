"""Schema of the rule files in rules/: what a clinical informaticist may write.

A rule file reads like a protocol: each rule has an id, a version, a title, a plain statement,
its conditions (`when`), its outcome (`then`), evidence and a rationale. Unknown keys, unknown
fields, unknown value sets and duplicate ids are errors that stop start-up.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .vocabulary import (
    FACT_FIELDS,
    FIELD_VALUES,
    SET_FIELD_OF,
    UNITS,
    CriterionStatus,
    Decision,
    OverallResponse,
    ResponseStatus,
    field_unit,
    yaml_key,
)

RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
OPS = {"eq", "ne", "lt", "lte", "gt", "gte", "in", "exists"}
# A reminder without its own grace_days uses this ruleset parameter.
DEFAULT_GRACE_PARAMETER = "reminder_grace_days"

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
    where: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _resolve_parameters(cls, data: Any, info: ValidationInfo) -> Any:
        # Parameter names in numeric comparisons become their values (recorded, for the rulebook).
        params = _params(info)
        if not isinstance(data, dict) or params is None or not isinstance(data.get("where"), dict):
            return data
        fields = FACT_FIELDS.get(data.get("fact", ""), {})
        where = {}
        for name, test in data["where"].items():
            if fields.get(name) == "num":
                unit = field_unit(data["fact"], name)
                if isinstance(test, dict):
                    test = {
                        op: params.resolve(ref, unit, f"{name}.{op}") if op in NUMERIC_OPS else ref
                        for op, ref in test.items()
                    }
                else:
                    test = params.resolve(test, unit, name)
            where[name] = test
        return dict(data, where=where)

    @model_validator(mode="after")
    def _known_fields(self) -> Pattern:
        fields = FACT_FIELDS.get(self.fact)
        if fields is None:
            raise ValueError(f"unknown fact kind {self.fact!r}; known: {sorted(FACT_FIELDS)}")
        written = sorted(yaml_key(f) for f in fields)
        for name, test in self.where.items():
            target = SET_FIELD_OF.get(name, name)
            if target not in fields:
                hint = _did_you_mean(name, written)
                raise ValueError(f"fact {self.fact!r} has no field {name!r}{hint}; known: {written}")
            kind = fields[target]
            if kind == "set" and name not in SET_FIELD_OF:
                raise ValueError(
                    f"use one of {'/'.join(repr(k + ':') for k in SET_FIELD_OF)} to test {name!r}"
                )
            if kind == "set":
                _check_set_test(name, test)
            else:
                _check_typed_test(self.fact, name, kind, test)
        return self


NUMERIC_OPS = {"eq", "ne", "lt", "lte", "gt", "gte"}
_TYPE_WORDS = {"num": "a number", "str": "a word", "bool": "true or false"}


def _is_type(value: Any, kind: str) -> bool:
    if kind == "num":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    return isinstance(value, str)


def _check_set_test(name: str, test: Any) -> None:
    if isinstance(test, str):
        return
    if (
        not isinstance(test, dict)
        or len(test) != 1
        or set(test) - {"any_of", "all_of"}
        or not isinstance(next(iter(test.values())), list)
        or not all(isinstance(v, str) for v in next(iter(test.values())))
    ):
        raise ValueError(f"{name}: write a single value set name, {{any_of: [names]}} or {{all_of: [names]}}")


def _check_typed_test(kind_name: str, name: str, kind: str, test: Any) -> None:
    """A test of a num/str/bool field: right operators, values of the field's type, known words."""
    if not isinstance(test, dict):
        test = {"eq": test}
    unknown = set(test) - OPS
    if unknown or not test:
        raise ValueError(f"{name}: unknown operator(s) {sorted(unknown)}; allowed: {sorted(OPS)}")
    if kind != "num" and set(test) & {"lt", "lte", "gt", "gte"}:
        raise ValueError(f"{name}: lt/lte/gt/gte compare numbers, but {name!r} is {_TYPE_WORDS[kind]}")
    for op, ref in test.items():
        if op == "exists":
            if not isinstance(ref, bool):
                raise ValueError(f"{name}: 'exists' takes true or false")
            continue
        values = ref if op == "in" else [ref]
        if op == "in" and (not isinstance(ref, list) or not ref):
            raise ValueError(f"{name}: 'in' needs a non-empty list")
        for value in values:
            if not _is_type(value, kind):
                extra = " or a parameter name of the same unit" if kind == "num" else ""
                raise ValueError(f"{name}: {op} {value!r} must be {_TYPE_WORDS[kind]}{extra}")
            allowed = FIELD_VALUES.get((kind_name, name))
            if kind == "str" and isinstance(allowed, tuple) and value not in allowed:
                hint = _did_you_mean(value, list(allowed))
                raise ValueError(f"{name}: {value!r} is never produced{hint}; known: {list(allowed)}")


def _did_you_mean(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(str(word), known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------- parameters


class Parameter(_Strict):
    """One threshold or window, with its unit, what it means and where it comes from."""

    value: StrictInt | StrictFloat
    unit: Literal[UNITS]  # type: ignore[valid-type]
    meaning: str = Field(min_length=10)
    source: str = Field(min_length=5, description="Citation or section of the clinical pack.")
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")


@dataclass(frozen=True)
class ParameterUse:
    parameter: str
    rule_id: str
    where: str  # the key written, e.g. days_since_end.lt or then.washout_days


@dataclass
class ParameterContext:
    """Validation context: the parameters rules may name, and where each one is used."""

    parameters: dict[str, Parameter]
    rule_id: str = "?"
    uses: list[ParameterUse] = field(default_factory=list)

    def resolve(self, ref: Any, unit: str | None, where: str) -> Any:
        """A parameter name becomes its value (when its unit fits); anything else is left to the schema."""
        if not isinstance(ref, str) or ref not in self.parameters:
            if isinstance(ref, str) and (close := _did_you_mean(ref, sorted(self.parameters))):
                raise ValueError(f"{where}: {ref!r} is neither a number nor a parameter{close}")
            return ref
        param = self.parameters[ref]
        if unit is not None and param.unit != unit:
            raise ValueError(f"{where}: parameter {ref!r} is in {param.unit}, but this field is in {unit}")
        self.uses.append(ParameterUse(ref, self.rule_id, where))
        return param.value


def _params(info: ValidationInfo) -> ParameterContext | None:
    ctx = info.context
    return ctx if isinstance(ctx, ParameterContext) else None


def _resolve_fields(data: Any, info: ValidationInfo, units: dict[str, str], prefix: str) -> Any:
    """Resolve parameter names in an outcome's numeric fields (e.g. washout_days, due.to_days)."""
    params = _params(info)
    if not isinstance(data, dict) or params is None:
        return data
    out = {}
    for key, value in data.items():
        if key in units:
            value = params.resolve(value, units[key], f"{prefix}{key}")
            if not _is_type(value, "num"):
                raise ValueError(f"{key}: {value!r} must be a number or a parameter name in {units[key]}")
        out[key] = value
    return out


class Due(_Strict):
    anchor: Literal["start", "event", "therapy_start"] = "start"
    from_days: StrictInt
    to_days: StrictInt
    grace_days: StrictInt = Field(ge=0, description="A result this close to the window still counts.")

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        # No grace written: the ruleset's reminder_grace_days parameter (one home for the number).
        params = _params(info)
        if isinstance(data, dict) and "grace_days" not in data and params is not None:
            if DEFAULT_GRACE_PARAMETER not in params.parameters:
                raise ValueError(f"no grace_days, and no parameter {DEFAULT_GRACE_PARAMETER!r} to default to")
            data = dict(data, grace_days=DEFAULT_GRACE_PARAMETER)
        units = {"from_days": "days", "to_days": "days", "grace_days": "days"}
        return _resolve_fields(data, info, units, "")

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
    washout_days: StrictInt | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        return _resolve_fields(data, info, {"washout_days": "days"}, "")


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
    flag_above_mg: StrictInt | StrictFloat = Field(gt=0)

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        return _resolve_fields(data, info, {"flag_above_mg": "mg/day"}, "")


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
    def _pick_outcome(cls, data: Any, info: ValidationInfo) -> Any:
        # Choose the outcome model by its key so an error names the right fields.
        if isinstance(data, dict) and (params := _params(info)) is not None:
            params.rule_id = str(data.get("id", "?"))  # parameter uses are recorded per rule
        if isinstance(data, dict) and isinstance(data.get("then"), dict):
            keys = [k for k in data["then"] if k in OUTCOME_KEYS]
            if len(keys) != 1:
                raise ValueError(f"'then' needs exactly one of {sorted(OUTCOME_KEYS)}")
            try:
                then = OUTCOME_KEYS[keys[0]].model_validate(data["then"], context=info.context)
            except ValidationError as exc:
                raise ValueError(f"then.{_first_error(exc)}") from None
            data = dict(data, then=then)
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
        "orders",
    ]
    title: str
    description: str
    criteria: list[CriterionDef] = Field(default_factory=list)
    hard_stops: list[FindingDef] = Field(default_factory=list)
    cautions: list[FindingDef] = Field(default_factory=list)
    parameters: dict[str, Parameter] = Field(
        default_factory=dict, description="Thresholds of this concern (names unique in the ruleset)."
    )
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
    parameters: dict[str, Parameter] = Field(
        default_factory=dict, description="Thresholds and windows every rule file may name."
    )

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not SEMVER.match(v):
            raise ValueError("version must be MAJOR.MINOR.PATCH")
        return v


# ---------------------------------------------------------------- error messages


def _all_field_names() -> set[str]:
    names: set[str] = set()
    stack: list[type[BaseModel]] = [_Strict]
    while stack:
        cls = stack.pop()
        names |= set(cls.model_fields)
        stack += cls.__subclasses__()
    return names


def _first_error(exc: ValidationError) -> str:
    """The most useful error, as written in the YAML: a stray key first (with a suggestion)."""
    errors = exc.errors()
    stray = [e for e in errors if e["type"] == "extra_forbidden"]
    err = stray[0] if stray else errors[0]
    loc = [str(p) for p in err["loc"]]
    if stray:
        parent = tuple(err["loc"][:-1])
        missing = [
            str(e["loc"][-1]) for e in errors if e["type"] == "missing" and tuple(e["loc"][:-1]) == parent
        ]
        key = loc[-1]
        hint = _did_you_mean(key, missing) or _did_you_mean(key, sorted(_all_field_names()))
        where = ".".join(loc[:-1])
        return f"{where + ': ' if where else ''}unknown key {key!r}{hint}"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{'.'.join(loc)}: {msg}" if loc else msg
