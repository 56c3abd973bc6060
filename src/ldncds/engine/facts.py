"""Patient facts: the engine's input, free of FHIR and HTTP.

Every fact keeps the `source` it came from (e.g. ``Condition/abc``) so explanations can cite it.
Unknown is representable everywhere: a missing date is ``None``, and a whole list that was not
supplied is ``None`` (not looked at), which is different from ``[]`` (looked at, nothing found).
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def _check_partial_date(value: str) -> str:
    match = _PARTIAL_DATE.match(value)
    if not match:
        raise ValueError("expected a date as YYYY, YYYY-MM or YYYY-MM-DD")
    earliest(value)  # raises on impossible months/days
    return value


PartialDate = Annotated[str, AfterValidator(_check_partial_date)]
"""A FHIR-style date that may be partial: ``1979``, ``1979-03`` or ``1979-03-14``."""


def earliest(value: str) -> date:
    """First day a partial date can denote."""
    year, month, day = _PARTIAL_DATE.match(value).groups()  # type: ignore[union-attr]
    return date(int(year), int(month or 1), int(day or 1))


def latest(value: str) -> date:
    """Last day a partial date can denote."""
    year, month, day = _PARTIAL_DATE.match(value).groups()  # type: ignore[union-attr]
    y, m = int(year), int(month or 12)
    return date(y, m, int(day) if day else calendar.monthrange(y, m)[1])


class _Fact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(
        min_length=1,
        max_length=512,
        description="Where the fact came from, e.g. 'Condition/abc' or 'MedicationRequest/mr-9'.",
        examples=["Condition/cond-1"],
    )


class Coding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str = Field(
        min_length=1,
        description="Code system: short name (ICD-10-CM, SNOMED-CT, RxNorm, LOINC, CPT, HCPCS) or FHIR URI.",
    )
    code: str = Field(min_length=1, max_length=64)
    display: str | None = Field(default=None, max_length=512)


ConditionClinicalStatus = Literal["active", "recurrence", "relapse", "inactive", "remission", "resolved"]
VerificationStatus = Literal[
    "confirmed", "provisional", "differential", "unconfirmed", "refuted", "entered-in-error"
]


ConditionCategory = Literal["problem-list-item", "encounter-diagnosis", "health-concern", "other"]


class Condition(_Fact):
    codes: list[Coding] = Field(default_factory=list)
    text: str | None = Field(default=None, max_length=1024)
    category: list[ConditionCategory] = Field(
        default_factory=list,
        description="Problem-list item, encounter diagnosis (often without a clinical status), ...",
    )
    clinical_status: ConditionClinicalStatus | None = None
    verification_status: VerificationStatus | None = None
    onset: PartialDate | None = None
    recorded_date: PartialDate | None = None
    abatement: PartialDate | None = None
    abated: bool = Field(
        default=False,
        description="An abatement is recorded (abatement[x]), also when it gives no date (abatementString).",
    )


MedicationStatus = Literal[
    "active",
    "on-hold",
    "completed",
    "stopped",
    "cancelled",
    "entered-in-error",
    "draft",
    "intended",
    "not-taken",
    "unknown",
]


MedicationRecord = Literal["request", "statement", "dispense", "administration"]
EndBasis = Literal["recorded", "supply", "dispense", "administration"]


class Medication(_Fact):
    """One medication exposure: a prescription, a statement of use, a dispense or an administration.

    Coded, or text only. ``end`` is the end of exposure when it is known or can be bounded from the
    supply; ``end_basis`` says which. An ended entry with no ``end`` has an *unknown* end.
    """

    codes: list[Coding] = Field(default_factory=list, description="Product and/or ingredient codes.")
    text: str | None = Field(default=None, max_length=1024, description="Free-text name as written.")
    status: MedicationStatus | None = None
    record: MedicationRecord | None = Field(
        default=None, description="The kind of record: request, statement, dispense or administration."
    )
    is_order: bool = Field(default=True, description="False for proposals/plans, which are not use.")
    start: PartialDate | None = Field(
        default=None, description="Authored, handed over, administered or first taken."
    )
    end: PartialDate | None = Field(default=None, description="End of supply or last dose, if known.")
    end_latest: PartialDate | None = Field(
        default=None,
        description="The latest the supply could last when the order allows refills (all used, the last "
        "filled as late as its validity period allows): bounds the exposure and its washout, never a trial.",
    )
    end_basis: EndBasis | None = Field(
        default=None,
        description="How `end` is known: recorded on the entry, computed from the supply written on "
        "the order, from a dispense's days supply, or the day of an administration.",
    )
    daily_dose_mg: float | None = Field(
        default=None, gt=0, le=100000, description="A dose of 0 is no dose: leave it out (unknown)."
    )
    dose_text: str | None = Field(default=None, max_length=1024)


ProcedureStatus = Literal[
    "preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error", "unknown"
]


class Procedure(_Fact):
    codes: list[Coding] = Field(default_factory=list)
    category: list[Coding] = Field(default_factory=list)
    text: str | None = Field(default=None, max_length=1024)
    status: ProcedureStatus | None = None
    performed: PartialDate | None = Field(default=None, description="When done, or when planned.")


class Allergy(_Fact):
    codes: list[Coding] = Field(default_factory=list)
    text: str | None = Field(default=None, max_length=1024)
    type: Literal["allergy", "intolerance"] | None = Field(
        default=None, description="AllergyIntolerance.type: immune allergy, or non-immune intolerance."
    )
    criticality: Literal["low", "high", "unable-to-assess"] | None = None
    clinical_status: Literal["active", "inactive", "resolved"] | None = None
    verification_status: Literal["unconfirmed", "confirmed", "refuted", "entered-in-error"] | None = None


class Observation(_Fact):
    codes: list[Coding] = Field(default_factory=list)
    status: (
        Literal[
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        ]
        | None
    ) = None
    effective: PartialDate | None = None
    value_num: float | None = None
    value_comparator: Literal["<", "<=", ">=", ">"] | None = Field(
        default=None,
        description="value_num is a bound, not the value: '<15' is 15 with '<' (FHIR Quantity.comparator).",
    )
    value_unit: str | None = Field(default=None, max_length=64)
    result: Literal["positive", "negative"] | None = Field(
        default=None, description="Qualitative result, e.g. of a urine screen or pregnancy test."
    )
    value_text: str | None = Field(default=None, max_length=1024)
    value_codes: list[Coding] = Field(
        default_factory=list,
        description="The coded answer (valueCodeableConcept), e.g. a LOINC answer code such as LA6570-1.",
    )


Section = Literal["conditions", "medications", "procedures", "allergies", "observations"]


class DataNote(BaseModel):
    """A record that could not be read, or was read with a caveat; named in every answer."""

    # One schema for requests and answers (`codes` has a default): clients see one DataNote.
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_mode_override="validation")

    source: str = Field(min_length=1, max_length=512, description="The record, e.g. 'Condition/c-7'.")
    section: Section | None = Field(default=None, description="The section it would have belonged to.")
    reason: str = Field(min_length=1, max_length=1024, description="What was wrong, in plain words.")
    severity: Literal["unreadable", "caveat"] = Field(
        default="unreadable",
        description="unreadable: the record was not used (its section is then incomplete); "
        "caveat: used, with a reservation the clinician should know.",
    )
    codes: list[Coding] = Field(
        default_factory=list,
        description="The codes of an unreadable condition, where they could be read: they make the "
        "patient one the rules have something to say about (the patient-view gate), never a criterion.",
    )


class PatientFacts(BaseModel):
    """Everything the rules may read about one patient.

    A list left out (``None``) means "not available": the rules treat what depends on it as unknown.
    An empty list means "looked, found nothing".
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(default="Patient", max_length=512, examples=["Patient/pt-1001"])
    birth_date: PartialDate | None = None
    sex: Literal["female", "male", "other", "unknown"] | None = None
    deceased: bool = Field(default=False, description="The record says the patient has died.")
    deceased_on: PartialDate | None = Field(
        default=None, description="The date of death the record gives (Patient.deceasedDateTime), if any."
    )
    conditions: list[Condition] | None = None
    medications: list[Medication] | None = None
    procedures: list[Procedure] | None = None
    allergies: list[Allergy] | None = None
    observations: list[Observation] | None = None
    incomplete: list[Section] = Field(
        default_factory=list,
        description="Sections that were supplied but may be incomplete (e.g. a search returned an error).",
    )
    notes: list[DataNote] = Field(
        default_factory=list,
        description="Records that could not be read or were read with a caveat, each named.",
    )

    def died_by(self, on: date) -> bool:
        """The record says the patient died on or before `on`. A date of death after it, or a year or
        month that may end after it, contradicts a visit on `on`: the patient is then assessed as
        living and the answer says so (CHECK-DEATH-DATE-01)."""
        if self.deceased_on is not None:
            return latest(self.deceased_on) <= on
        return self.deceased
