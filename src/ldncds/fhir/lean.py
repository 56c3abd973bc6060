"""Lean FHIR R4 models: the elements the mappers read, plus the ones records commonly carry.

fhir.resources runs Python validators on every nested element (null checks, [x] choices, required
primitives), which made FHIR validation about half of the CPU of an assessment. These models leave
that work to pydantic-core and reuse fhir.resources' own primitive types (fhir_core's), so a date,
code, id or decimal is checked, and parsed to the same value, exactly as full validation does.

The contract (tests/fhir/test_lean_models.py checks it against fhir.resources, field by field):

- Sound: what a lean model accepts, fhir.resources R4B accepts. Every element is an R4B element of
  the same type and cardinality; required elements and [x] choices are enforced as R4B does.
- Closed: an element not modelled here (an unknown key, `_field` primitive extensions, rarely used
  elements such as Patient.photo) is refused (`extra="forbid"`), and the adapter then validates the
  resource with fhir.resources. So lean validation never reads what full validation would reject,
  and every error a caller sees (and its field path) comes from full validation.
- Same names: attributes are the FHIR element names, as in fhir.resources, so one set of mappers
  reads both kinds of model (`fhir.mappers`).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self, get_args

# fhir_core's primitive types, which fhir.resources.R4B.fhirtypes re-exports (the same objects),
# without that module's ~700 complex types: a worker loads those only when a record needs full validation.
from fhir_core import types as fhirtypes
from fhir_core.types import (
    BooleanType,
    CanonicalType,
    CodeType,
    DecimalType,
    IdType,
    IntegerType,
    MarkdownType,
    PositiveIntType,
    StringType,
    TimeType,
    UnsignedIntType,
    UriType,
    XhtmlType,
)
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import CoreSchema, core_schema

Choices = tuple[frozenset[str], ...]


class Shortcut:
    """A faster way to the same value for the common, complete forms of a date, dateTime or instant.

    fhir_core validates each one in Python: its pattern, a partial-date regex, a leap-second regex,
    pydantic-core's date or datetime parser, then time-zone checks (and a dateTime without a time
    becomes the parsed value's date). For a string of one of the forms given here (each a subset of
    fhir_core's pattern: no partial date, no leap second, a time zone whenever there is a time)
    those Python steps are decided in advance, so the value is what one pydantic-core parser gives:
    the form and that parser are checked inside pydantic-core. Any other value, and any string the
    parser refuses (2024-02-30), is validated the fhir_core way, which alone produces values and
    errors for it. tests/fhir/test_lean_dates.py compares both ways on generated strings.
    """

    def __init__(self, *forms: tuple[str, CoreSchema]) -> None:
        self.forms = forms  # (anchored pattern, the parser whose value fhir_core returns for it)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        full = handler(source)  # fhir_core's validation, unchanged
        fast: list[CoreSchema] = [
            core_schema.chain_schema([core_schema.str_schema(pattern=pattern, strict=True), parser])
            for pattern, parser in self.forms
        ]
        return core_schema.union_schema(
            [*fast, full], mode="left_to_right", serialization=full.get("serialization")
        )


_YEAR = "([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"  # fhir_core's: 0001-9999
_DAY = _YEAR + "-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
_TIME = "T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+\\-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
DATE_FORM = f"^{_DAY}$"
DATETIME_FORM = f"^{_DAY}{_TIME}$"
DateType = Annotated[fhirtypes.DateType, Shortcut((DATE_FORM, core_schema.date_schema()))]
DateTimeType = Annotated[
    fhirtypes.DateTimeType,
    Shortcut((DATETIME_FORM, core_schema.datetime_schema()), (DATE_FORM, core_schema.date_schema())),
]
InstantType = Annotated[fhirtypes.InstantType, Shortcut((DATETIME_FORM, core_schema.datetime_schema()))]


class _Model(BaseModel):
    # Deferred: a class builds its own validator only if it is validated on its own. Resources are
    # validated by RESOURCE below, one validator whose data types are shared definitions; built per
    # class, each resource's validator held its own copy of every nested type (10.7 MiB against 2.2).
    model_config = ConfigDict(extra="forbid", defer_build=True)


def _one_of(*names: str) -> frozenset[str]:
    return frozenset(names)


def _check_choices(model: BaseModel, choices: Choices, required: Choices) -> None:
    """R4 [x] elements: at most one type of each choice; exactly one where the element is required.

    Two keys of one choice are refused even when one is null (R4B would accept that): stricter is
    sound, the record then goes to full validation.
    """
    given = model.model_fields_set
    for group in choices:
        if len(given & group) > 1:
            raise ValueError(f"only one of {', '.join(sorted(group))} may be given")
    for group in required:
        if all(getattr(model, name) is None for name in group):
            raise ValueError(f"one of {', '.join(sorted(group))} is required")


class Element(_Model):
    id: StringType | None = None
    extension: list[Extension] | None = None


class ChoiceElement(Element):
    """An element with [x] choices (`__choices__`: groups of element names, one type each)."""

    __choices__: ClassVar[Choices] = ()
    __required_choices__: ClassVar[Choices] = ()

    @model_validator(mode="after")
    def _one_of_many(self) -> Self:
        _check_choices(self, self.__choices__, self.__required_choices__)
        return self


# ---------------------------------------------------------------------------------------------------------
# Data types


class Coding(Element):
    system: UriType | None = None
    version: StringType | None = None
    code: CodeType | None = None
    display: StringType | None = None
    userSelected: BooleanType | None = None


class CodeableConcept(Element):
    coding: list[Coding] | None = None
    text: StringType | None = None


class Period(Element):
    start: DateTimeType | None = None
    end: DateTimeType | None = None


class Quantity(Element):
    value: DecimalType | None = None
    comparator: CodeType | None = None
    unit: StringType | None = None
    system: UriType | None = None
    code: CodeType | None = None


class Age(Quantity):
    pass


class Duration(Quantity):
    pass


class Range(Element):
    low: Quantity | None = None
    high: Quantity | None = None


class Ratio(Element):
    numerator: Quantity | None = None
    denominator: Quantity | None = None


class Identifier(Element):
    use: CodeType | None = None
    type: CodeableConcept | None = None
    system: UriType | None = None
    value: StringType | None = None
    period: Period | None = None
    assigner: Reference | None = None


class Reference(Element):
    reference: StringType | None = None
    type: UriType | None = None
    identifier: Identifier | None = None
    display: StringType | None = None


class Meta(Element):
    versionId: IdType | None = None
    lastUpdated: InstantType | None = None
    source: UriType | None = None
    profile: list[CanonicalType] | None = None
    security: list[Coding] | None = None
    tag: list[Coding] | None = None


class Narrative(Element):
    status: CodeType
    div: XhtmlType


class Annotation(ChoiceElement):
    __choices__ = (_one_of("authorReference", "authorString"),)
    authorReference: Reference | None = None
    authorString: StringType | None = None
    time: DateTimeType | None = None
    text: MarkdownType


class HumanName(Element):
    use: CodeType | None = None
    text: StringType | None = None
    family: StringType | None = None
    given: list[StringType] | None = None
    prefix: list[StringType] | None = None
    suffix: list[StringType] | None = None
    period: Period | None = None


class ContactPoint(Element):
    system: CodeType | None = None
    value: StringType | None = None
    use: CodeType | None = None
    rank: PositiveIntType | None = None
    period: Period | None = None


class Address(Element):
    use: CodeType | None = None
    type: CodeType | None = None
    text: StringType | None = None
    line: list[StringType] | None = None
    city: StringType | None = None
    district: StringType | None = None
    state: StringType | None = None
    postalCode: StringType | None = None
    country: StringType | None = None
    period: Period | None = None


_EXTENSION_VALUES = _one_of(
    "valueAddress", "valueAge", "valueAnnotation", "valueBoolean", "valueCanonical", "valueCode",
    "valueCodeableConcept", "valueCoding", "valueContactPoint", "valueDate", "valueDateTime",
    "valueDecimal", "valueDuration", "valueHumanName", "valueId", "valueIdentifier", "valueInstant",
    "valueInteger", "valueMarkdown", "valuePeriod", "valuePositiveInt", "valueQuantity", "valueRange",
    "valueRatio", "valueReference", "valueString", "valueTime", "valueUnsignedInt", "valueUri",
)  # fmt: skip


class Extension(ChoiceElement):
    """The value types records commonly use; any other (valueAttachment ...) goes to full validation."""

    __choices__ = (_EXTENSION_VALUES,)
    url: UriType
    valueAddress: Address | None = None
    valueAge: Age | None = None
    valueAnnotation: Annotation | None = None
    valueBoolean: BooleanType | None = None
    valueCanonical: CanonicalType | None = None
    valueCode: CodeType | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueCoding: Coding | None = None
    valueContactPoint: ContactPoint | None = None
    valueDate: DateType | None = None
    valueDateTime: DateTimeType | None = None
    valueDecimal: DecimalType | None = None
    valueDuration: Duration | None = None
    valueHumanName: HumanName | None = None
    valueId: IdType | None = None
    valueIdentifier: Identifier | None = None
    valueInstant: InstantType | None = None
    valueInteger: IntegerType | None = None
    valueMarkdown: MarkdownType | None = None
    valuePeriod: Period | None = None
    valuePositiveInt: PositiveIntType | None = None
    valueQuantity: Quantity | None = None
    valueRange: Range | None = None
    valueRatio: Ratio | None = None
    valueReference: Reference | None = None
    valueString: StringType | None = None
    valueTime: TimeType | None = None
    valueUnsignedInt: UnsignedIntType | None = None
    valueUri: UriType | None = None


class TimingRepeat(ChoiceElement):
    __choices__ = (_one_of("boundsDuration", "boundsRange", "boundsPeriod"),)
    boundsDuration: Duration | None = None
    boundsRange: Range | None = None
    boundsPeriod: Period | None = None
    count: PositiveIntType | None = None
    countMax: PositiveIntType | None = None
    duration: DecimalType | None = None
    durationMax: DecimalType | None = None
    durationUnit: CodeType | None = None
    frequency: PositiveIntType | None = None
    frequencyMax: PositiveIntType | None = None
    period: DecimalType | None = None
    periodMax: DecimalType | None = None
    periodUnit: CodeType | None = None
    dayOfWeek: list[CodeType] | None = None
    timeOfDay: list[TimeType] | None = None
    when: list[CodeType] | None = None
    offset: UnsignedIntType | None = None


class Timing(Element):
    event: list[DateTimeType] | None = None
    repeat: TimingRepeat | None = None
    code: CodeableConcept | None = None


class DosageDoseAndRate(ChoiceElement):
    __choices__ = (_one_of("doseRange", "doseQuantity"), _one_of("rateRatio", "rateRange", "rateQuantity"))
    type: CodeableConcept | None = None
    doseRange: Range | None = None
    doseQuantity: Quantity | None = None
    rateRatio: Ratio | None = None
    rateRange: Range | None = None
    rateQuantity: Quantity | None = None


class Dosage(ChoiceElement):
    __choices__ = (_one_of("asNeededBoolean", "asNeededCodeableConcept"),)
    sequence: IntegerType | None = None
    text: StringType | None = None
    additionalInstruction: list[CodeableConcept] | None = None
    patientInstruction: StringType | None = None
    timing: Timing | None = None
    asNeededBoolean: BooleanType | None = None
    asNeededCodeableConcept: CodeableConcept | None = None
    site: CodeableConcept | None = None
    route: CodeableConcept | None = None
    method: CodeableConcept | None = None
    doseAndRate: list[DosageDoseAndRate] | None = None
    maxDosePerPeriod: Ratio | None = None
    maxDosePerAdministration: Quantity | None = None
    maxDosePerLifetime: Quantity | None = None


# ---------------------------------------------------------------------------------------------------------
# Resources


class DomainResource(_Model):
    """Resource + DomainResource elements (`contained` only where a Medication may be contained)."""

    __choices__: ClassVar[Choices] = ()
    __required_choices__: ClassVar[Choices] = ()
    id: IdType | None = None
    meta: Meta | None = None
    implicitRules: UriType | None = None
    language: CodeType | None = None
    text: Narrative | None = None
    extension: list[Extension] | None = None

    @classmethod
    def get_resource_type(cls) -> str:
        """As fhir.resources names it (the mappers call it on either kind of model)."""
        return cls.__name__

    @model_validator(mode="after")
    def _one_of_many(self) -> Self:
        _check_choices(self, self.__choices__, self.__required_choices__)
        return self


class MedicationIngredient(ChoiceElement):
    __choices__ = (_one_of("itemCodeableConcept", "itemReference"),)
    __required_choices__ = __choices__
    itemCodeableConcept: CodeableConcept | None = None
    itemReference: Reference | None = None
    isActive: BooleanType | None = None
    strength: Ratio | None = None


class MedicationBatch(Element):
    lotNumber: StringType | None = None
    expirationDate: DateTimeType | None = None


class Medication(DomainResource):
    resourceType: Literal["Medication"]
    identifier: list[Identifier] | None = None
    code: CodeableConcept | None = None
    status: CodeType | None = None
    manufacturer: Reference | None = None
    form: CodeableConcept | None = None
    amount: Ratio | None = None
    ingredient: list[MedicationIngredient] | None = None
    batch: MedicationBatch | None = None


class _Clinical(DomainResource):
    """A resource that may carry contained resources (only a contained Medication is modelled)."""

    contained: list[Medication] | None = None


_ONSET = _one_of("onsetDateTime", "onsetAge", "onsetPeriod", "onsetRange", "onsetString")
_ABATEMENT = _one_of(
    "abatementDateTime", "abatementAge", "abatementPeriod", "abatementRange", "abatementString"
)
_MEDICATION = _one_of("medicationCodeableConcept", "medicationReference")


class ConditionStage(Element):
    summary: CodeableConcept | None = None
    assessment: list[Reference] | None = None
    type: CodeableConcept | None = None


class ConditionEvidence(Element):
    code: list[CodeableConcept] | None = None
    detail: list[Reference] | None = None


class Condition(_Clinical):
    __choices__ = (_ONSET, _ABATEMENT)
    resourceType: Literal["Condition"]
    identifier: list[Identifier] | None = None
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    category: list[CodeableConcept] | None = None
    severity: CodeableConcept | None = None
    code: CodeableConcept | None = None
    bodySite: list[CodeableConcept] | None = None
    subject: Reference
    encounter: Reference | None = None
    onsetDateTime: DateTimeType | None = None
    onsetAge: Age | None = None
    onsetPeriod: Period | None = None
    onsetRange: Range | None = None
    onsetString: StringType | None = None
    abatementDateTime: DateTimeType | None = None
    abatementAge: Age | None = None
    abatementPeriod: Period | None = None
    abatementRange: Range | None = None
    abatementString: StringType | None = None
    recordedDate: DateTimeType | None = None
    recorder: Reference | None = None
    asserter: Reference | None = None
    stage: list[ConditionStage] | None = None
    evidence: list[ConditionEvidence] | None = None
    note: list[Annotation] | None = None


class MedicationRequestDispenseRequestInitialFill(Element):
    quantity: Quantity | None = None
    duration: Duration | None = None


class MedicationRequestDispenseRequest(Element):
    initialFill: MedicationRequestDispenseRequestInitialFill | None = None
    dispenseInterval: Duration | None = None
    validityPeriod: Period | None = None
    numberOfRepeatsAllowed: UnsignedIntType | None = None
    quantity: Quantity | None = None
    expectedSupplyDuration: Duration | None = None
    performer: Reference | None = None


class MedicationRequestSubstitution(ChoiceElement):
    __choices__ = (_one_of("allowedBoolean", "allowedCodeableConcept"),)
    __required_choices__ = __choices__
    allowedBoolean: BooleanType | None = None
    allowedCodeableConcept: CodeableConcept | None = None
    reason: CodeableConcept | None = None


class MedicationRequest(_Clinical):
    __choices__ = (_one_of("reportedBoolean", "reportedReference"), _MEDICATION)
    __required_choices__ = (_MEDICATION,)
    resourceType: Literal["MedicationRequest"]
    identifier: list[Identifier] | None = None
    status: CodeType
    statusReason: CodeableConcept | None = None
    intent: CodeType
    category: list[CodeableConcept] | None = None
    priority: CodeType | None = None
    doNotPerform: BooleanType | None = None
    reportedBoolean: BooleanType | None = None
    reportedReference: Reference | None = None
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    subject: Reference
    encounter: Reference | None = None
    supportingInformation: list[Reference] | None = None
    authoredOn: DateTimeType | None = None
    requester: Reference | None = None
    performer: Reference | None = None
    performerType: CodeableConcept | None = None
    recorder: Reference | None = None
    reasonCode: list[CodeableConcept] | None = None
    reasonReference: list[Reference] | None = None
    instantiatesCanonical: list[CanonicalType] | None = None
    instantiatesUri: list[UriType] | None = None
    basedOn: list[Reference] | None = None
    groupIdentifier: Identifier | None = None
    courseOfTherapyType: CodeableConcept | None = None
    insurance: list[Reference] | None = None
    note: list[Annotation] | None = None
    dosageInstruction: list[Dosage] | None = None
    dispenseRequest: MedicationRequestDispenseRequest | None = None
    substitution: MedicationRequestSubstitution | None = None
    priorPrescription: Reference | None = None
    detectedIssue: list[Reference] | None = None
    eventHistory: list[Reference] | None = None


class MedicationStatement(_Clinical):
    __choices__ = (_MEDICATION, _one_of("effectiveDateTime", "effectivePeriod"))
    __required_choices__ = (_MEDICATION,)
    resourceType: Literal["MedicationStatement"]
    identifier: list[Identifier] | None = None
    basedOn: list[Reference] | None = None
    partOf: list[Reference] | None = None
    status: CodeType
    statusReason: list[CodeableConcept] | None = None
    category: CodeableConcept | None = None
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    subject: Reference
    context: Reference | None = None
    effectiveDateTime: DateTimeType | None = None
    effectivePeriod: Period | None = None
    dateAsserted: DateTimeType | None = None
    informationSource: Reference | None = None
    derivedFrom: list[Reference] | None = None
    reasonCode: list[CodeableConcept] | None = None
    reasonReference: list[Reference] | None = None
    note: list[Annotation] | None = None
    dosage: list[Dosage] | None = None


class MedicationDispensePerformer(Element):
    function: CodeableConcept | None = None
    actor: Reference


class MedicationDispenseSubstitution(Element):
    wasSubstituted: BooleanType
    type: CodeableConcept | None = None
    reason: list[CodeableConcept] | None = None
    responsibleParty: list[Reference] | None = None


class MedicationDispense(_Clinical):
    __choices__ = (_one_of("statusReasonCodeableConcept", "statusReasonReference"), _MEDICATION)
    __required_choices__ = (_MEDICATION,)
    resourceType: Literal["MedicationDispense"]
    identifier: list[Identifier] | None = None
    partOf: list[Reference] | None = None
    status: CodeType
    statusReasonCodeableConcept: CodeableConcept | None = None
    statusReasonReference: Reference | None = None
    category: CodeableConcept | None = None
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    subject: Reference | None = None
    context: Reference | None = None
    supportingInformation: list[Reference] | None = None
    performer: list[MedicationDispensePerformer] | None = None
    location: Reference | None = None
    authorizingPrescription: list[Reference] | None = None
    type: CodeableConcept | None = None
    quantity: Quantity | None = None
    daysSupply: Quantity | None = None
    whenPrepared: DateTimeType | None = None
    whenHandedOver: DateTimeType | None = None
    destination: Reference | None = None
    receiver: list[Reference] | None = None
    note: list[Annotation] | None = None
    dosageInstruction: list[Dosage] | None = None
    substitution: MedicationDispenseSubstitution | None = None
    detectedIssue: list[Reference] | None = None
    eventHistory: list[Reference] | None = None


class MedicationAdministrationPerformer(Element):
    function: CodeableConcept | None = None
    actor: Reference


class MedicationAdministrationDosage(ChoiceElement):
    __choices__ = (_one_of("rateRatio", "rateQuantity"),)
    text: StringType | None = None
    site: CodeableConcept | None = None
    route: CodeableConcept | None = None
    method: CodeableConcept | None = None
    dose: Quantity | None = None
    rateRatio: Ratio | None = None
    rateQuantity: Quantity | None = None


class MedicationAdministration(_Clinical):
    __choices__ = (_MEDICATION, _one_of("effectiveDateTime", "effectivePeriod"))
    __required_choices__ = __choices__
    resourceType: Literal["MedicationAdministration"]
    identifier: list[Identifier] | None = None
    instantiates: list[UriType] | None = None
    partOf: list[Reference] | None = None
    status: CodeType
    statusReason: list[CodeableConcept] | None = None
    category: CodeableConcept | None = None
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    subject: Reference
    context: Reference | None = None
    supportingInformation: list[Reference] | None = None
    effectiveDateTime: DateTimeType | None = None
    effectivePeriod: Period | None = None
    performer: list[MedicationAdministrationPerformer] | None = None
    reasonCode: list[CodeableConcept] | None = None
    reasonReference: list[Reference] | None = None
    request: Reference | None = None
    device: list[Reference] | None = None
    note: list[Annotation] | None = None
    dosage: MedicationAdministrationDosage | None = None
    eventHistory: list[Reference] | None = None


class ProcedurePerformer(Element):
    function: CodeableConcept | None = None
    actor: Reference
    onBehalfOf: Reference | None = None


class ProcedureFocalDevice(Element):
    action: CodeableConcept | None = None
    manipulated: Reference


class Procedure(_Clinical):
    __choices__ = (
        _one_of("performedDateTime", "performedPeriod", "performedString", "performedAge", "performedRange"),
    )
    resourceType: Literal["Procedure"]
    identifier: list[Identifier] | None = None
    instantiatesCanonical: list[CanonicalType] | None = None
    instantiatesUri: list[UriType] | None = None
    basedOn: list[Reference] | None = None
    partOf: list[Reference] | None = None
    status: CodeType
    statusReason: CodeableConcept | None = None
    category: CodeableConcept | None = None
    code: CodeableConcept | None = None
    subject: Reference
    encounter: Reference | None = None
    performedDateTime: DateTimeType | None = None
    performedPeriod: Period | None = None
    performedString: StringType | None = None
    performedAge: Age | None = None
    performedRange: Range | None = None
    recorder: Reference | None = None
    asserter: Reference | None = None
    performer: list[ProcedurePerformer] | None = None
    location: Reference | None = None
    reasonCode: list[CodeableConcept] | None = None
    reasonReference: list[Reference] | None = None
    bodySite: list[CodeableConcept] | None = None
    outcome: CodeableConcept | None = None
    report: list[Reference] | None = None
    complication: list[CodeableConcept] | None = None
    complicationDetail: list[Reference] | None = None
    followUp: list[CodeableConcept] | None = None
    note: list[Annotation] | None = None
    focalDevice: list[ProcedureFocalDevice] | None = None
    usedReference: list[Reference] | None = None
    usedCode: list[CodeableConcept] | None = None


class ServiceRequest(_Clinical):
    __choices__ = (
        _one_of("quantityQuantity", "quantityRatio", "quantityRange"),
        _one_of("occurrenceDateTime", "occurrencePeriod", "occurrenceTiming"),
        _one_of("asNeededBoolean", "asNeededCodeableConcept"),
    )
    resourceType: Literal["ServiceRequest"]
    identifier: list[Identifier] | None = None
    instantiatesCanonical: list[CanonicalType] | None = None
    instantiatesUri: list[UriType] | None = None
    basedOn: list[Reference] | None = None
    replaces: list[Reference] | None = None
    requisition: Identifier | None = None
    status: CodeType
    intent: CodeType
    category: list[CodeableConcept] | None = None
    priority: CodeType | None = None
    doNotPerform: BooleanType | None = None
    code: CodeableConcept | None = None
    orderDetail: list[CodeableConcept] | None = None
    quantityQuantity: Quantity | None = None
    quantityRatio: Ratio | None = None
    quantityRange: Range | None = None
    subject: Reference
    encounter: Reference | None = None
    occurrenceDateTime: DateTimeType | None = None
    occurrencePeriod: Period | None = None
    occurrenceTiming: Timing | None = None
    asNeededBoolean: BooleanType | None = None
    asNeededCodeableConcept: CodeableConcept | None = None
    authoredOn: DateTimeType | None = None
    requester: Reference | None = None
    performerType: CodeableConcept | None = None
    performer: list[Reference] | None = None
    locationCode: list[CodeableConcept] | None = None
    locationReference: list[Reference] | None = None
    reasonCode: list[CodeableConcept] | None = None
    reasonReference: list[Reference] | None = None
    insurance: list[Reference] | None = None
    supportingInfo: list[Reference] | None = None
    specimen: list[Reference] | None = None
    bodySite: list[CodeableConcept] | None = None
    note: list[Annotation] | None = None
    patientInstruction: StringType | None = None
    relevantHistory: list[Reference] | None = None


class AppointmentParticipant(Element):
    type: list[CodeableConcept] | None = None
    actor: Reference | None = None
    required: CodeType | None = None
    status: CodeType
    period: Period | None = None


class Appointment(_Clinical):
    resourceType: Literal["Appointment"]
    identifier: list[Identifier] | None = None
    status: CodeType
    cancelationReason: CodeableConcept | None = None
    serviceCategory: list[CodeableConcept] | None = None
    serviceType: list[CodeableConcept] | None = None
    specialty: list[CodeableConcept] | None = None
    appointmentType: CodeableConcept | None = None
    reasonCode: list[CodeableConcept] | None = None
    reasonReference: list[Reference] | None = None
    priority: UnsignedIntType | None = None
    description: StringType | None = None
    supportingInformation: list[Reference] | None = None
    start: InstantType | None = None
    end: InstantType | None = None
    minutesDuration: PositiveIntType | None = None
    slot: list[Reference] | None = None
    created: DateTimeType | None = None
    comment: StringType | None = None
    patientInstruction: StringType | None = None
    basedOn: list[Reference] | None = None
    participant: list[AppointmentParticipant]
    requestedPeriod: list[Period] | None = None


class AllergyIntoleranceReaction(Element):
    substance: CodeableConcept | None = None
    manifestation: list[CodeableConcept]
    description: StringType | None = None
    onset: DateTimeType | None = None
    severity: CodeType | None = None
    exposureRoute: CodeableConcept | None = None
    note: list[Annotation] | None = None


class AllergyIntolerance(_Clinical):
    __choices__ = (_ONSET,)
    resourceType: Literal["AllergyIntolerance"]
    identifier: list[Identifier] | None = None
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    type: CodeType | None = None
    category: list[CodeType] | None = None
    criticality: CodeType | None = None
    code: CodeableConcept | None = None
    patient: Reference
    encounter: Reference | None = None
    onsetDateTime: DateTimeType | None = None
    onsetAge: Age | None = None
    onsetPeriod: Period | None = None
    onsetRange: Range | None = None
    onsetString: StringType | None = None
    recordedDate: DateTimeType | None = None
    recorder: Reference | None = None
    asserter: Reference | None = None
    lastOccurrence: DateTimeType | None = None
    note: list[Annotation] | None = None
    reaction: list[AllergyIntoleranceReaction] | None = None


_VALUE = _one_of(
    "valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean", "valueInteger", "valueRange",
    "valueRatio", "valueTime", "valueDateTime", "valuePeriod",
)  # fmt: skip


class ObservationReferenceRange(Element):
    low: Quantity | None = None
    high: Quantity | None = None
    type: CodeableConcept | None = None
    appliesTo: list[CodeableConcept] | None = None
    age: Range | None = None
    text: StringType | None = None


class ObservationComponent(ChoiceElement):
    """valueSampledData is not modelled (full validation reads it)."""

    __choices__ = (_VALUE,)
    code: CodeableConcept
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueString: StringType | None = None
    valueBoolean: BooleanType | None = None
    valueInteger: IntegerType | None = None
    valueRange: Range | None = None
    valueRatio: Ratio | None = None
    valueTime: TimeType | None = None
    valueDateTime: DateTimeType | None = None
    valuePeriod: Period | None = None
    dataAbsentReason: CodeableConcept | None = None
    interpretation: list[CodeableConcept] | None = None
    referenceRange: list[ObservationReferenceRange] | None = None


class Observation(_Clinical):
    __choices__ = (
        _one_of("effectiveDateTime", "effectivePeriod", "effectiveTiming", "effectiveInstant"),
        _VALUE,
    )
    resourceType: Literal["Observation"]
    identifier: list[Identifier] | None = None
    basedOn: list[Reference] | None = None
    partOf: list[Reference] | None = None
    status: CodeType
    category: list[CodeableConcept] | None = None
    code: CodeableConcept
    subject: Reference | None = None
    focus: list[Reference] | None = None
    encounter: Reference | None = None
    effectiveDateTime: DateTimeType | None = None
    effectivePeriod: Period | None = None
    effectiveTiming: Timing | None = None
    effectiveInstant: InstantType | None = None
    issued: InstantType | None = None
    performer: list[Reference] | None = None
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueString: StringType | None = None
    valueBoolean: BooleanType | None = None
    valueInteger: IntegerType | None = None
    valueRange: Range | None = None
    valueRatio: Ratio | None = None
    valueTime: TimeType | None = None
    valueDateTime: DateTimeType | None = None
    valuePeriod: Period | None = None
    dataAbsentReason: CodeableConcept | None = None
    interpretation: list[CodeableConcept] | None = None
    note: list[Annotation] | None = None
    bodySite: CodeableConcept | None = None
    method: CodeableConcept | None = None
    specimen: Reference | None = None
    device: Reference | None = None
    referenceRange: list[ObservationReferenceRange] | None = None
    hasMember: list[Reference] | None = None
    derivedFrom: list[Reference] | None = None
    component: list[ObservationComponent] | None = None


class PatientContact(Element):
    relationship: list[CodeableConcept] | None = None
    name: HumanName | None = None
    telecom: list[ContactPoint] | None = None
    address: Address | None = None
    gender: CodeType | None = None
    organization: Reference | None = None
    period: Period | None = None


class PatientCommunication(Element):
    language: CodeableConcept
    preferred: BooleanType | None = None


class PatientLink(Element):
    other: Reference
    type: CodeType


class Patient(_Clinical):
    """Patient.photo (Attachment) is not modelled (full validation reads it)."""

    __choices__ = (
        _one_of("deceasedBoolean", "deceasedDateTime"),
        _one_of("multipleBirthBoolean", "multipleBirthInteger"),
    )
    resourceType: Literal["Patient"]
    identifier: list[Identifier] | None = None
    active: BooleanType | None = None
    name: list[HumanName] | None = None
    telecom: list[ContactPoint] | None = None
    gender: CodeType | None = None
    birthDate: DateType | None = None
    deceasedBoolean: BooleanType | None = None
    deceasedDateTime: DateTimeType | None = None
    address: list[Address] | None = None
    maritalStatus: CodeableConcept | None = None
    multipleBirthBoolean: BooleanType | None = None
    multipleBirthInteger: IntegerType | None = None
    contact: list[PatientContact] | None = None
    communication: list[PatientCommunication] | None = None
    generalPractitioner: list[Reference] | None = None
    managingOrganization: Reference | None = None
    link: list[PatientLink] | None = None


# Every resource type the adapter validates, one validator for all of them, chosen by resourceType.
AnyResource = Annotated[
    Patient | Condition | MedicationRequest | MedicationStatement | MedicationDispense
    | MedicationAdministration | Medication | Procedure | ServiceRequest | Appointment
    | AllergyIntolerance | Observation,
    Field(discriminator="resourceType"),
]  # fmt: skip
RESOURCE: TypeAdapter[DomainResource] = TypeAdapter(AnyResource)
MODELS: dict[str, type[DomainResource]] = {
    model.__name__: model for model in get_args(get_args(AnyResource)[0])
}


def parse(raw: dict[str, Any]) -> DomainResource | None:
    """The lean model of a resource, or None when it cannot vouch for it (then validate it in full).

    None covers both an invalid resource and a valid one using elements not modelled here: only full
    validation can tell them apart, and only its errors are reported.
    """
    rtype = raw.get("resourceType")
    if not isinstance(rtype, str) or rtype not in MODELS:  # not a type modelled here: full validation
        return None
    try:
        return RESOURCE.validate_python(raw)
    except ValidationError:
        return None
