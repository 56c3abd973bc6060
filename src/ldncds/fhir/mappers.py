"""One validated FHIR R4 resource -> engine facts (pure: no I/O, no bundle handling).

Typed against the lean models (`fhir.lean`); in full validation mode the same functions read
fhir.resources models, which have the same attribute names (tests/fhir/test_lean_models.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any, Literal, get_args

from ldncds.engine import INTERPRETATION_SYSTEMS, canonical_system, facts
from ldncds.fhir import lean
from ldncds.fhir.values import (
    Code,
    age_span,
    clip,
    coded_status,
    concept,
    date_str,
    later,
    pick,
    quantity_offset,
    result_from_text,
    shift,
    time_unit,
)

# The codes each fact field accepts (FHIR R4 value sets); any other code is read as unknown.
AllergyClinicalStatus = Literal["active", "inactive", "resolved"]
AllergyVerificationStatus = Literal["unconfirmed", "confirmed", "refuted", "entered-in-error"]
ObservationStatus = Literal[
    "registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"
]
Severity = Literal["unreadable", "caveat"]
CONDITION_CLINICAL: tuple[facts.ConditionClinicalStatus, ...] = get_args(facts.ConditionClinicalStatus)
CONDITION_VERIFICATION: tuple[facts.VerificationStatus, ...] = get_args(facts.VerificationStatus)
ALLERGY_CLINICAL: tuple[AllergyClinicalStatus, ...] = get_args(AllergyClinicalStatus)
ALLERGY_VERIFICATION: tuple[AllergyVerificationStatus, ...] = get_args(AllergyVerificationStatus)
MEDICATION_STATUS: tuple[facts.MedicationStatus, ...] = get_args(facts.MedicationStatus)
PROCEDURE_STATUS: tuple[facts.ProcedureStatus, ...] = get_args(facts.ProcedureStatus)
OBSERVATION_STATUS: tuple[ObservationStatus, ...] = get_args(ObservationStatus)
_CONDITION_CATEGORIES: tuple[facts.ConditionCategory, ...] = (
    "problem-list-item", "encounter-diagnosis", "health-concern",
)  # fmt: skip
_DrugRecord = (
    lean.MedicationRequest
    | lean.MedicationStatement
    | lean.MedicationDispense
    | lean.MedicationAdministration
)
# MedicationDispense.status / MedicationAdministration.status -> the shared medication status.
_DISPENSE_STATUS: dict[str, facts.MedicationStatus] = {
    "preparation": "draft", "in-progress": "active", "on-hold": "on-hold", "completed": "completed",
    "stopped": "stopped", "cancelled": "cancelled", "declined": "cancelled",
    "entered-in-error": "entered-in-error", "unknown": "unknown",
}  # fmt: skip
_ADMINISTRATION_STATUS: dict[str, facts.MedicationStatus] = {
    "in-progress": "active", "on-hold": "on-hold", "completed": "completed", "stopped": "stopped",
    "not-done": "not-taken", "entered-in-error": "entered-in-error", "unknown": "unknown",
}  # fmt: skip
_PLANNED_REQUEST_STATUS = frozenset({"active", "draft"})
_PLANNED_REQUEST_INTENTS = frozenset(
    {"order", "original-order", "reflex-order", "filler-order", "instance-order", "plan"}
)
_PLANNED_APPOINTMENT_STATUS = frozenset({"booked", "pending"})
# Intents that are not a decision to give the drug (R4 MedicationRequest.intent).
_NOT_ORDER_INTENTS = frozenset({"proposal", "plan", "option"})

# Qualitative results from codes (the string table is fhir.values.result_from_text). Interpretation
# codes are read in both the v3 ObservationInterpretation and the v2 table 0078 systems, under any of
# their URIs or OIDs (engine.codes). SNOMED CT qualifier values as sent in valueCodeableConcept.
_SNOMED_RESULT = {
    "10828004": "positive",  # Positive (qualifier value)
    "260373001": "positive",  # Detected (qualifier value)
    "52101004": "positive",  # Present (qualifier value)
    "260385009": "negative",  # Negative (qualifier value)
    "260415000": "negative",  # Not detected (qualifier value)
    "2667000": "negative",  # Absent (qualifier value)
}
_VALUE_V3_RESULT = {"POS": "positive", "DET": "positive", "NEG": "negative", "ND": "negative"}
_INTERPRETATION_RESULT = {
    "POS": "positive", "DET": "positive", "RR": "positive", "A": "positive", "AA": "positive",
    "H": "positive", "HH": "positive",
    "NEG": "negative", "ND": "negative", "NR": "negative", "N": "negative",
}  # fmt: skip

# The score a Questionnaire gives an answer, carried onto the coded value (R4 core extension).
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
_MG_PER_UNIT = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001}
# HL7 TimingAbbreviation codes -> administrations per day (used only when Timing.repeat says nothing).
_TIMING_CODES = {
    "QD": 1.0, "AM": 1.0, "PM": 1.0, "BED": 1.0, "BID": 2.0, "TID": 3.0, "QID": 4.0, "QOD": 0.5,
    "Q1H": 24.0, "Q2H": 12.0, "Q3H": 8.0, "Q4H": 6.0, "Q6H": 4.0, "Q8H": 3.0, "WK": 1 / 7, "MO": 1 / 30,
}  # fmt: skip
_PERIODS_PER_DAY = {"s": 86400.0, "min": 1440.0, "h": 24.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30, "a": 1 / 365}


@dataclass
class MapContext:
    """What a mapper may know beyond its resource: birth date, medication look-up, dispensed supplies.

    `dispense_ends` maps `MedicationRequest/<id>` to the latest supply end of the dispenses that
    fill it (bounds a stopped order that records no end). `notes` reach the caller as DataNotes.
    """

    birth_date: str | None
    resolve_medication: Callable[[str | None, list[lean.Medication]], lean.Medication | None]
    warnings: list[str] = field(default_factory=list)
    notes: list[facts.DataNote] = field(default_factory=list)
    dispense_ends: dict[str, str] = field(default_factory=dict)
    zone: tzinfo | None = None  # the site's time zone: a timed record's day is the site's calendar day

    def day(self, value: date | datetime | str | None) -> str | None:
        """The (partial) date of a FHIR date/dateTime/instant, a timed one on the site's calendar."""
        return date_str(value, self.zone)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def note(
        self, source: str, section: facts.Section | None, reason: str, severity: Severity = "caveat"
    ) -> None:
        self.warnings.append(f"{source}: {reason}")
        self.notes.append(
            facts.DataNote(source=source[:512], section=section, reason=reason[:1024], severity=severity)
        )


def _status(
    cc: lean.CodeableConcept | None, allowed: tuple[Code, ...], what: str, source: str, ctx: MapContext
) -> Code | None:
    code, unknown = coded_status(cc, allowed)
    if unknown:
        ctx.warn(f"{source}: unrecognised {what}, taken as unknown")
    return code


def _plain_status(value: str | None, allowed: tuple[Code, ...], source: str, ctx: MapContext) -> Code | None:
    code = pick(value, allowed)
    if value is not None and code is None:
        ctx.warn(f"{source}: unrecognised status, taken as unknown")
    return code


def _choice_date(res: object, prefix: str, ctx: MapContext, *, period_end_first: bool = False) -> str | None:
    """Date of a `<prefix>[x]` choice: dateTime, Period, Age or Range (the days that age spans, via the
    birth date, when a partial date holds them); string -> None."""
    value = ctx.day(getattr(res, f"{prefix}DateTime", None))
    period = getattr(res, f"{prefix}Period", None)
    if value is None and period is not None:
        first, second = (period.end, period.start) if period_end_first else (period.start, period.end)
        value = ctx.day(first) or ctx.day(second)
    age = getattr(res, f"{prefix}Age", None)
    value_range = getattr(res, f"{prefix}Range", None)
    if period_end_first:  # an end (abatement): it has passed once its earliest day has (derive)
        youngest = age if age is not None else value_range.low if value_range is not None else None
        return value or shift(ctx.birth_date, quantity_offset(youngest))
    if value is None and age is not None:
        value = age_span(ctx.birth_date, age, age)
    if value is None and value_range is not None:
        value = age_span(ctx.birth_date, value_range.low, value_range.high)
    return value


def _has_choice(res: object, prefix: str) -> bool:
    suffixes = ("DateTime", "Period", "Age", "Range", "String")
    return any(getattr(res, f"{prefix}{suffix}", None) is not None for suffix in suffixes)


def map_condition(res: lean.Condition, source: str, ctx: MapContext) -> list[facts.Condition]:
    verification = _status(res.verificationStatus, CONDITION_VERIFICATION, "verificationStatus", source, ctx)
    if verification in ("entered-in-error", "refuted"):
        return []
    clinical = _status(res.clinicalStatus, CONDITION_CLINICAL, "clinicalStatus", source, ctx)
    abated = _has_choice(res, "abatement")
    if clinical is None and abated:
        clinical = "resolved"  # R4 invariant: an abated condition is inactive/resolved/remission
    codes, text = concept(res.code)
    return [
        facts.Condition(
            source=source,
            codes=codes,
            text=text,
            category=_condition_categories(res.category),
            clinical_status=clinical,
            verification_status=verification,
            onset=_choice_date(res, "onset", ctx),
            recorded_date=ctx.day(res.recordedDate),
            abatement=_choice_date(res, "abatement", ctx, period_end_first=True),
            abated=abated,
        )
    ]


def _condition_categories(categories: list[lean.CodeableConcept] | None) -> list[facts.ConditionCategory]:
    """Condition.category codes (HL7 and US Core systems use the same codes); others are "other"."""
    found: list[facts.ConditionCategory] = []
    for cc in categories or []:
        codes = {coding.code for coding in cc.coding or [] if coding.code}
        known = sorted(code for code in _CONDITION_CATEGORIES if code in codes)
        other: list[facts.ConditionCategory] = ["other"] if codes or cc.text else []
        for code in known or other:
            if code not in found:
                found.append(code)
    return found


def _drug(res: _DrugRecord, source: str, ctx: MapContext) -> tuple[list[facts.Coding], str | None]:
    """Codes and text of medication[x]; an unresolvable reference keeps only its display."""
    if res.medicationCodeableConcept is not None:
        return concept(res.medicationCodeableConcept)
    ref = res.medicationReference
    if ref is None:
        ctx.warn(f"{source}: no medication given")
        return [], None
    medication = ctx.resolve_medication(ref.reference, res.contained or [])
    if medication is None:
        # A conditional reference is a search string that could hold identifiers: not echoed.
        shown = ref.reference if ref.reference and "?" not in ref.reference else "(not a literal reference)"
        ctx.note(source, "medications", f"medicationReference {shown} could not be resolved")
        return [], clip(ref.display, 1024)
    codes, text = concept(medication.code)
    for ingredient in medication.ingredient or []:
        extra, _ = concept(ingredient.itemCodeableConcept)
        codes.extend(coding for coding in extra if coding not in codes)
    return codes, text or clip(ref.display, 1024)


def _bounds_end(dosages: list[lean.Dosage], ctx: MapContext) -> str | None:
    end: str | None = None
    for dosage in dosages:
        repeat = dosage.timing.repeat if dosage.timing is not None else None
        if repeat is not None and repeat.boundsPeriod is not None:
            end = later(end, ctx.day(repeat.boundsPeriod.end))
    return end


def _per_day(timing: lean.Timing | None) -> float | None:
    """Administrations per day, only when the timing states it unambiguously (no ranges)."""
    if timing is None:
        return None
    repeat = timing.repeat
    times = (len(repeat.when or []) or len(repeat.timeOfDay or [])) if repeat is not None else 0
    if repeat is not None and times > 1 and repeat.frequency != times:
        return None  # "morning and bedtime" once a day: how many doses is not stated
    if repeat is not None and (repeat.period is not None or repeat.frequency is not None):
        # R4 Timing: a missing frequency means once per period.
        if repeat.frequencyMax is not None or repeat.periodMax is not None or not repeat.period:
            return None
        unit = time_unit(repeat.periodUnit)
        if unit is None:
            return None
        return (repeat.frequency or 1) * _PERIODS_PER_DAY[unit] / float(repeat.period)
    codes = {coding.code for coding in (timing.code.coding or [])} if timing.code is not None else set()
    known = [_TIMING_CODES[code] for code in codes if code in _TIMING_CODES]
    return known[0] if len(known) == 1 else None


def _single_dosage(dosages: list[lean.Dosage]) -> lean.Dosage | None:
    """The one dosage instruction, or None: several instructions may be taken together (4.5 mg and
    50 mg) or one after the other (a titration), and which is not always stated."""
    return dosages[0] if len(dosages) == 1 else None


def _daily_dose_mg(dosages: list[lean.Dosage], source: str, ctx: MapContext) -> float | None:
    """Dose (in mg) x administrations per day, or None when either is not clearly stated."""
    dosage = _single_dosage(dosages)
    if dosage is None or not dosage.doseAndRate:
        return None
    dose = dosage.doseAndRate[0].doseQuantity
    if dose is None or dose.value is None or dose.comparator is not None:
        return None
    factor = _MG_PER_UNIT.get((dose.code or dose.unit or "").strip().lower())
    per_day = _per_day(dosage.timing)
    if factor is None or per_day is None:
        return None
    daily = round(float(dose.value) * factor * per_day, 6)
    if daily <= 0 or daily > 100000:  # 0 mg is no dose; either way the dose is asked for
        ctx.note(source, "medications", f"daily dose of {daily:g} mg is implausible and was not used")
        return None
    return daily


def map_request(res: lean.MedicationRequest, source: str, ctx: MapContext) -> list[facts.Medication]:
    """MedicationRequest -> Medication fact (never dropped unless entered-in-error)."""
    if res.status == "entered-in-error":
        return []
    dosages = res.dosageInstruction or []
    status = _plain_status(res.status, MEDICATION_STATUS, source, ctx)
    fill_days = _fill_days(res, dosages, source, ctx)
    dates = _request_dates(res, dosages, fill_days, ctx)
    is_order = res.intent not in _NOT_ORDER_INTENTS
    end_latest = _refills_end(res, dates, fill_days, ctx)
    medication = _exposure(
        res,
        source,
        ctx,
        dosages,
        status=status,
        record="request",
        is_order=is_order,
        dates=dates,
        end_latest=end_latest,
    )
    return [medication]


def map_statement(res: lean.MedicationStatement, source: str, ctx: MapContext) -> list[facts.Medication]:
    """MedicationStatement -> Medication fact (never dropped unless entered-in-error)."""
    if res.status == "entered-in-error":
        return []
    dosages = res.dosage or []
    status = _plain_status(res.status, MEDICATION_STATUS, source, ctx)
    dates = _statement_dates(res, dosages, ctx)
    return [_exposure(res, source, ctx, dosages, status=status, record="statement", dates=dates)]


def map_dispense(res: lean.MedicationDispense, source: str, ctx: MapContext) -> list[facts.Medication]:
    """MedicationDispense -> exposure from the hand-over for its days supply (or quantity / daily dose)."""
    if res.status == "entered-in-error":
        return []
    dosages = res.dosageInstruction or []
    start, end = dispense_supply(res, dosages, source, ctx)
    status = _DISPENSE_STATUS.get(res.status or "unknown")
    if status is None:
        ctx.warn(f"{source}: unrecognised status, taken as unknown")
    dates: _Dates = (start, end, "dispense" if end else None)
    return [_exposure(res, source, ctx, dosages, status=status, record="dispense", dates=dates)]


def dispense_supply(
    res: lean.MedicationDispense, dosages: list[lean.Dosage], source: str, ctx: MapContext
) -> tuple[str | None, str | None]:
    """(handed over, end of supply) of a dispense; the end is None when the supply is not stated."""
    start = ctx.day(res.whenHandedOver) or ctx.day(res.whenPrepared)
    if start is None or res.status in ("cancelled", "declined", "preparation"):
        return start, None
    days = _quantity_days(res.daysSupply)
    if days is None:
        days = _supply_days(res.quantity, dosages, source, ctx)
    return start, shift(start, (0, 0, days)) if days is not None else None


def map_administration(
    res: lean.MedicationAdministration, source: str, ctx: MapContext
) -> list[facts.Medication]:
    """MedicationAdministration -> exposure on the day(s) it was given."""
    if res.status == "entered-in-error":
        return []
    period = res.effectivePeriod
    start = ctx.day(res.effectiveDateTime) or (ctx.day(period.start) if period is not None else None)
    end = (ctx.day(period.end) if period is not None else None) or start
    if period is not None and period.start is not None and period.end is None:
        end = None  # an infusion still running: the end is unknown
    status = _ADMINISTRATION_STATUS.get(res.status or "unknown")
    if status is None:
        ctx.warn(f"{source}: unrecognised status, taken as unknown")
    dosage = res.dosage
    dates: _Dates = (start, end, "administration" if end else None)
    return [
        _exposure(res, source, ctx, [], status=status, record="administration", dates=dates, given=dosage)
    ]


_Dates = tuple[str | None, str | None, facts.EndBasis | None]  # start, end, how the end is known


def _exposure(
    res: _DrugRecord,
    source: str,
    ctx: MapContext,
    dosages: list[lean.Dosage],
    *,
    status: facts.MedicationStatus | None,
    record: facts.MedicationRecord,
    dates: _Dates,
    is_order: bool = True,
    given: lean.MedicationAdministrationDosage | None = None,
    end_latest: str | None = None,
) -> facts.Medication:
    codes, text = _drug(res, source, ctx)
    dose_texts = [dosage.text for dosage in dosages if dosage.text]
    if given is not None and given.text:
        dose_texts.append(given.text)
    start, end, basis = dates
    return facts.Medication(
        source=source,
        codes=codes,
        text=text,
        status=status,
        record=record,
        is_order=is_order,
        start=start,
        end=end,
        end_latest=end_latest,
        end_basis=basis,
        daily_dose_mg=_daily_dose_mg(dosages, source, ctx),
        dose_text=clip("; ".join(dose_texts), 1024),
    )


def _quantity_days(duration: lean.Quantity | None) -> int | None:
    """Whole days of a Duration/Quantity of time (rounded up: a longer supply is the safer bound)."""
    offset = quantity_offset(duration)
    if offset is None:
        return None
    years, months, days = offset
    return years * 365 + months * 30 + days


def _supply_days(
    quantity: lean.Quantity | None, dosages: list[lean.Dosage], source: str, ctx: MapContext
) -> int | None:
    """Days a quantity lasts at the dosage's units per day, when both use the same unit."""
    dosage = _single_dosage(dosages)
    if quantity is None or quantity.value is None or dosage is None or not dosage.doseAndRate:
        return None
    dose = dosage.doseAndRate[0].doseQuantity
    per_day = _per_day(dosage.timing)
    if dose is None or dose.value is None or not per_day or dose.comparator is not None:
        return None
    unit = (quantity.code or quantity.unit or "").strip().lower()
    if not unit or unit != (dose.code or dose.unit or "").strip().lower() or float(dose.value) <= 0:
        return None
    days = float(quantity.value) / (float(dose.value) * per_day)
    if days > 3650:
        ctx.note(source, "medications", f"a supply of {math.ceil(days)} days is implausible and was not used")
        return None
    return math.ceil(days)


def _request_dates(
    res: lean.MedicationRequest, dosages: list[lean.Dosage], days: int | None, ctx: MapContext
) -> _Dates:
    """(start, end, end basis). validityPeriod is how long the order may be filled, never its end."""
    authored = ctx.day(res.authoredOn)
    dispense = res.dispenseRequest
    validity = dispense.validityPeriod if dispense is not None else None
    start = authored or (ctx.day(validity.start) if validity is not None else None)
    end = _bounds_end(dosages, ctx)
    if end is not None:
        return start, end, "recorded"
    supply_end = shift(start, (0, 0, days)) if days is not None else None
    dispensed = ctx.dispense_ends.get(f"MedicationRequest/{res.id}") if res.id else None
    if dispensed is not None and (supply_end is None or later(dispensed, supply_end) == dispensed):
        return start, dispensed, "dispense"  # the pharmacy's hand-over outlasts what the order says
    return start, supply_end, "supply" if supply_end else None


def _fill_days(
    res: lean.MedicationRequest, dosages: list[lean.Dosage], source: str, ctx: MapContext
) -> int | None:
    """Days one fill of the order lasts (expected supply duration, or quantity / daily use)."""
    dispense = res.dispenseRequest
    if dispense is None:
        return None
    days = _quantity_days(dispense.expectedSupplyDuration)
    if days is None and dispense.quantity is not None:
        days = _supply_days(dispense.quantity, dosages, source, ctx)
    return days


def _refills_end(res: lean.MedicationRequest, dates: _Dates, days: int | None, ctx: MapContext) -> str | None:
    """The latest an order with refills could last: every refill used, the last one filled as late
    as the validity period allows. Bounds the exposure (washout), never a trial: a refill may never
    have been filled. None when the order allows no refills, states no supply or records its end."""
    _, end, basis = dates
    dispense = res.dispenseRequest
    repeats = dispense.numberOfRepeatsAllowed if dispense is not None else None
    if dispense is None or not repeats or end is None or days is None or basis == "recorded":
        return None
    latest_end = shift(end, (0, 0, days * repeats))
    validity = dispense.validityPeriod
    last_fill = ctx.day(validity.end) if validity is not None else None
    if last_fill is not None:
        latest_end = later(latest_end, shift(last_fill, (0, 0, days)))
    return latest_end


def _statement_dates(res: lean.MedicationStatement, dosages: list[lean.Dosage], ctx: MapContext) -> _Dates:
    period = res.effectivePeriod
    start = ctx.day(res.effectiveDateTime) or (ctx.day(period.start) if period is not None else None)
    end = (ctx.day(period.end) if period is not None else None) or _bounds_end(dosages, ctx)
    return start or ctx.day(res.dateAsserted), end, "recorded" if end else None


def map_procedure(res: lean.Procedure, source: str, ctx: MapContext) -> list[facts.Procedure]:
    if res.status == "entered-in-error":
        return []
    codes, text = concept(res.code)
    category, _ = concept(res.category)
    return [
        facts.Procedure(
            source=source,
            codes=codes,
            category=category,
            text=text,
            status=_plain_status(res.status, PROCEDURE_STATUS, source, ctx),
            performed=_choice_date(res, "performed", ctx),
        )
    ]


def map_service_request(res: lean.ServiceRequest, source: str, ctx: MapContext) -> list[facts.Procedure]:
    """An active or draft ServiceRequest ordering or planning a procedure -> a planned Procedure."""
    if res.status not in _PLANNED_REQUEST_STATUS or res.intent not in _PLANNED_REQUEST_INTENTS:
        return []  # done, revoked or only proposed: not a scheduled procedure
    codes, text = concept(res.code)
    category: list[facts.Coding] = []
    for cc in res.category or []:
        category.extend(concept(cc)[0])
    period, timing = res.occurrencePeriod, res.occurrenceTiming
    when = ctx.day(res.occurrenceDateTime) or (ctx.day(period.start) if period is not None else None)
    if when is None and timing is not None:
        when = next((ctx.day(event) for event in timing.event or []), None)
    return [_planned(source, codes, category, text, when)]


def map_appointment(res: lean.Appointment, source: str, ctx: MapContext) -> list[facts.Procedure]:
    """A booked or pending Appointment (service type / reason) -> a planned Procedure on its date."""
    if res.status not in _PLANNED_APPOINTMENT_STATUS:
        return []
    codes: list[facts.Coding] = []
    texts: list[str] = []
    for cc in [*(res.serviceType or []), *(res.reasonCode or [])]:
        found, text = concept(cc)
        codes.extend(coding for coding in found if coding not in codes)
        texts += [text] if text else []
    text = clip("; ".join(texts), 1024) or clip(res.description, 1024)
    return [_planned(source, codes, [], text, ctx.day(res.start))]


def _planned(
    source: str, codes: list[facts.Coding], category: list[facts.Coding], text: str | None, when: str | None
) -> facts.Procedure:
    return facts.Procedure(
        source=source, codes=codes, category=category, text=text, status="preparation", performed=when
    )


def map_allergy(res: lean.AllergyIntolerance, source: str, ctx: MapContext) -> list[facts.Allergy]:
    verification = _status(res.verificationStatus, ALLERGY_VERIFICATION, "verificationStatus", source, ctx)
    if verification in ("entered-in-error", "refuted"):
        return []
    codes, text = concept(res.code)
    return [
        facts.Allergy(
            source=source,
            codes=codes,
            text=text,
            clinical_status=_status(res.clinicalStatus, ALLERGY_CLINICAL, "clinicalStatus", source, ctx),
            verification_status=verification,
        )
    ]


def _observation_effective(res: lean.Observation, ctx: MapContext) -> str | None:
    period = res.effectivePeriod
    value = ctx.day(res.effectiveDateTime) or ctx.day(res.effectiveInstant)
    if value is None and period is not None:
        value = ctx.day(period.end) or ctx.day(period.start)
    if value is None and res.effectiveTiming is not None:
        for event in res.effectiveTiming.event or []:
            value = later(value, ctx.day(event))
    return value or ctx.day(res.issued)


def _coded_result(cc: lean.CodeableConcept | None, table: dict[str, str], *, snomed: bool) -> str | None:
    """positive/negative from a CodeableConcept; None when absent or contradictory."""
    found: set[str] = set()
    for coding in (cc.coding or []) if cc is not None else []:
        if snomed and canonical_system(coding.system) == "SNOMED-CT" and coding.code in _SNOMED_RESULT:
            found.add(_SNOMED_RESULT[coding.code])
        elif canonical_system(coding.system) in INTERPRETATION_SYSTEMS and coding.code in table:
            found.add(table[coding.code])
    return found.pop() if len(found) == 1 else None


_ObservationPart = lean.Observation | lean.ObservationComponent


def _value(part: _ObservationPart) -> dict[str, Any]:
    """value_num/value_unit/value_text/result of an Observation or one of its components."""
    if part.dataAbsentReason is not None:
        return {}
    out: dict[str, Any] = {}
    quantity = part.valueQuantity
    if quantity is not None and quantity.value is not None:
        unit = quantity.code or quantity.unit
        out["value_num"], out["value_unit"] = float(quantity.value), clip(unit, 64)
        out["value_comparator"] = pick(quantity.comparator, _COMPARATORS)  # "<5": at most 5, not 5
        if quantity.comparator is not None and out["value_comparator"] is None:
            del out["value_num"]  # an unknown comparator: the number says nothing certain
            out["value_text"] = clip(f"{quantity.comparator}{quantity.value} {unit or ''}".strip(), 1024)
    if part.valueInteger is not None:
        out["value_num"] = float(part.valueInteger)
    if part.valueCodeableConcept is not None:
        codes, text = concept(part.valueCodeableConcept)
        out["value_codes"], out["value_text"] = codes, text or (codes[0].display if codes else None)
        ordinal = _ordinal(part.valueCodeableConcept)
        if ordinal is not None and "value_num" not in out:
            out["value_num"] = ordinal
        coded = _coded_result(part.valueCodeableConcept, _VALUE_V3_RESULT, snomed=True)
        out["result"] = coded or result_from_text(out["value_text"])
    if part.valueString is not None:
        # An unreadable string keeps result None and its text: the rules treat the test as unknown.
        out["value_text"] = clip(part.valueString, 1024)
        out["result"] = result_from_text(part.valueString)
        out.update(_number_in_text(part.valueString))
    return out


_COMPARATORS: tuple[Literal["<", "<=", ">=", ">"], ...] = ("<", "<=", ">=", ">")
_NUMBER_TEXT = re.compile(r"^\s*(<=|>=|<|>|≤|≥)?\s*(\d{1,9}(?:\.\d{1,9})?)\s*$")


def _number_in_text(text: str) -> dict[str, Any]:
    """A string that is only a number or a bound ("<15", ">= 60", "20"), as value_num; the unit
    is not stated, so a rule that needs one does not match it."""
    match = _NUMBER_TEXT.match(text)
    if match is None:
        return {}
    sign = {"≤": "<=", "≥": ">="}.get(match.group(1) or "", match.group(1))
    return {"value_num": float(match.group(2)), "value_comparator": pick(sign, _COMPARATORS)}


def _ordinal(cc: lean.CodeableConcept) -> float | None:
    """The score the record gives its coded answer (ordinalValue extension on the codings), when
    every coding that states one states the same."""
    scores = {
        float(ext.valueDecimal)
        for coding in cc.coding or []
        for ext in coding.extension or []
        if ext.url == ORDINAL_VALUE and ext.valueDecimal is not None
    }
    return scores.pop() if len(scores) == 1 else None


def _result(part: _ObservationPart, value: dict[str, Any], source: str, ctx: MapContext) -> str | None:
    from_value = value.get("result")
    if part.dataAbsentReason is not None:
        return None
    table = _INTERPRETATION_RESULT
    interpretations = {_coded_result(cc, table, snomed=False) for cc in part.interpretation or []}
    interpretations.discard(None)
    from_interpretation = interpretations.pop() if len(interpretations) == 1 else None
    if from_value and from_interpretation and from_value != from_interpretation:
        ctx.warn(f"{source}: value and interpretation disagree, result taken as unknown")
        return None
    return from_value or from_interpretation


def map_observation(res: lean.Observation, source: str, ctx: MapContext) -> list[facts.Observation]:
    """The Observation itself plus one fact per component (own code and value)."""
    if res.status in ("entered-in-error", "cancelled"):
        return []
    status = _plain_status(res.status, OBSERVATION_STATUS, source, ctx)
    effective = _observation_effective(res, ctx)
    parts: list[tuple[str, _ObservationPart]] = [(source, res)]
    parts += [(f"{source}#component[{i}]", c) for i, c in enumerate(res.component or [])]
    out: list[facts.Observation] = []
    for part_source, part in parts:
        value = _value(part)
        value["result"] = _result(part, value, part_source, ctx)
        codes, _ = concept(part.code)
        fact = facts.Observation(source=part_source, codes=codes, status=status, effective=effective, **value)
        out.append(fact)
    return out


MAPPERS: dict[str, Callable[[Any, str, MapContext], list[Any]]] = {
    "Condition": map_condition,
    "MedicationRequest": map_request,
    "MedicationStatement": map_statement,
    "MedicationDispense": map_dispense,
    "MedicationAdministration": map_administration,
    "ServiceRequest": map_service_request,
    "Appointment": map_appointment,
    "Procedure": map_procedure,
    "AllergyIntolerance": map_allergy,
    "Observation": map_observation,
}
