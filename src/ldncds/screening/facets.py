"""What a screening report groups patients by, taken from one assessment: never an identifier.

Age is shown in ten-year bands. The bands are for display only (no rule reads them), so a patient
whose partial birth date spans two bands is "unknown" rather than guessed into one.
"""

from __future__ import annotations

from datetime import date

from ldncds.engine import Assessment, PatientFacts, earliest, latest

UNKNOWN = "unknown"
BAND_YEARS = 10  # display granularity, not a clinical threshold


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def age_band(facts: PatientFacts | None, on: date) -> str:
    """`40-49`, or `unknown` when the birth date is missing or too partial to place."""
    if facts is None or not facts.birth_date:
        return UNKNOWN
    youngest, oldest = _age(latest(facts.birth_date), on), _age(earliest(facts.birth_date), on)
    if youngest < 0 or youngest // BAND_YEARS != oldest // BAND_YEARS:
        return UNKNOWN
    low = youngest // BAND_YEARS * BAND_YEARS
    return f"{low}-{low + BAND_YEARS - 1}"


def pathways(result: Assessment) -> list[str]:
    """The pathways (e.g. fibromyalgia, radiculopathy) that a met criterion established."""
    return sorted({p for c in result.criteria if c.status == "met" for p in c.pathways})


def not_met(result: Assessment) -> list[str]:
    return [c.id for c in result.criteria if c.status == "not_met"]
