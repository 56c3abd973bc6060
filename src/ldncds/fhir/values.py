"""Pure conversions from validated FHIR R4 values (lean or fhir.resources models) to fact values."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import TypeVar

from ldncds.engine import canonical_system, facts
from ldncds.fhir.lean import CodeableConcept, Quantity

Code = TypeVar("Code", bound=str)

_DATE_PREFIX = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?")

# UCUM time units (Timing.periodUnit, Age, Duration) plus the spelt-out forms seen in `unit`.
_TIME_UNITS: dict[str, str] = {
    "a": "a", "yr": "a", "year": "a", "years": "a",
    "mo": "mo", "month": "mo", "months": "mo",
    "wk": "wk", "week": "wk", "weeks": "wk",
    "d": "d", "day": "d", "days": "d",
    "h": "h", "hr": "h", "hour": "h", "hours": "h",
    "min": "min", "minute": "min", "minutes": "min",
    "s": "s", "sec": "s", "second": "s", "seconds": "s",
}  # fmt: skip
_DAYS_PER_UNIT: dict[str, float] = {
    "s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0,
}  # fmt: skip


def pick(value: object, options: tuple[Code, ...]) -> Code | None:
    """`value` as one of `options` (typed as the Literal they spell), or None when it is none of them."""
    for option in options:
        if option == value:
            return option
    return None


def clip(text: str | None, limit: int) -> str | None:
    """Text cut to a fact's maximum length; empty text is no text."""
    return text[:limit] if text else None


def date_str(value: date | datetime | str | None, zone: tzinfo | None = None) -> str | None:
    """A FHIR date/dateTime/instant as a partial date string, keeping its precision.

    A dateTime with a time is an instant: its calendar date is taken in `zone`, the site's time zone,
    because the evaluation date is the site's today and the washout and trial windows count site
    days. Its own offset's date could fall a day before the site's (an evening dose written at
    -10:00 is the next morning in UTC), which would move a recent opioid out of the washout window.
    Without a zone (tools, tests) the date is the one written in its own offset.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if zone is not None and value.tzinfo is not None:
            value = value.astimezone(zone)
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    match = _DATE_PREFIX.match(value)
    return match.group(0) if match else None


def later(a: str | None, b: str | None) -> str | None:
    """The later of two partial dates (compared by the last day each can denote)."""
    if a is None or b is None:
        return a or b
    return a if facts.latest(a) >= facts.latest(b) else b


def time_unit(raw: str | None) -> str | None:
    """Canonical UCUM time unit (a, mo, wk, d, h, min, s) of a code or unit text, or None."""
    return _TIME_UNITS.get(raw.strip().lower()) if raw else None


def quantity_offset(quantity: Quantity | None) -> tuple[int, int, int] | None:
    """(years, months, days) of a time Quantity; fractional years/months become days."""
    if quantity is None or quantity.value is None or quantity.comparator is not None:
        return None
    value, unit = float(quantity.value), time_unit(quantity.code or quantity.unit)
    if value < 0 or unit is None:
        return None
    if unit in ("a", "mo") and value.is_integer():
        return (int(value), 0, 0) if unit == "a" else (0, int(value), 0)
    days = value * (365.25 if unit == "a" else 30.4375 if unit == "mo" else _DAYS_PER_UNIT[unit])
    return 0, 0, int(days)


def _add(day: date, years: int, months: int, days: int) -> date | None:
    total = day.year * 12 + day.month - 1 + years * 12 + months
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        return None
    moved = date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
    try:
        return moved + timedelta(days=days)
    except OverflowError:
        return None


def shift(partial: str | None, offset: tuple[int, int, int] | None) -> str | None:
    """A partial date moved by an offset, at the finest precision both ends of its range agree on.

    E.g. birth "1979" + 40 years -> "2019"; birth "1979" + 6 months -> None (1979 or 1980).
    """
    if partial is None or offset is None:
        return None
    low, high = _add(facts.earliest(partial), *offset), _add(facts.latest(partial), *offset)
    if low is None or high is None:
        return None
    return _holding(low, high)


def age_span(birth: str | None, youngest: Quantity | None, oldest: Quantity | None) -> str | None:
    """The finest partial date holding every day the patient was aged `youngest` to `oldest`, or None.

    An age is a whole unit: aged 52 years runs from the 52nd birthday to the day before the 53rd, so
    an onset "at 52" of a patient born 1974-02-11 lies between 2026-02-11 and 2027-02-10: no partial
    date holds that, and the onset is unknown (never its earliest day, which would qualify a pain
    duration the record does not show). A Range without both ends is unknown too.
    """
    if birth is None or youngest is None or oldest is None:
        return None
    start, end = quantity_offset(youngest), quantity_offset(_one_unit_older(oldest))
    if start is None or end is None:
        return None
    low, high = _add(facts.earliest(birth), *start), _add(facts.latest(birth), *end)
    if low is None or high is None:
        return None
    return _holding(low, max(low, high - timedelta(days=1)))


def _one_unit_older(age: Quantity) -> Quantity:
    """The age one unit of its own on (52 a -> 53 a): the first day the patient is no longer `age`."""
    if age.value is None:
        return age
    return age.model_copy(update={"value": age.value + 1})


def _holding(low: date, high: date) -> str | None:
    """The finest partial date whose days include low..high (a day, a month or a year), or None."""
    if low == high:
        return low.isoformat()
    if (low.year, low.month) == (high.year, high.month):
        return f"{low.year:04d}-{low.month:02d}"
    return f"{low.year:04d}" if low.year == high.year else None


def concept(cc: CodeableConcept | None) -> tuple[list[facts.Coding], str | None]:
    """Codings and text of a CodeableConcept.

    Codings with an unknown system are kept as given (shown, not matched); codings without a system
    cannot be represented and only lend their display as text when the concept has none.
    """
    if cc is None:
        return [], None
    codes: list[facts.Coding] = []
    seen: set[tuple[str, str]] = set()
    fallback: str | None = None
    for coding in cc.coding or []:
        if not coding.code or len(coding.code) > 64:
            continue
        if not coding.system:
            fallback = fallback or coding.display or coding.code
            continue
        system = _system(coding.system)
        if (system, coding.code) not in seen:
            seen.add((system, coding.code))
            codes.append(_coding(system, coding.code, coding.display))
    return codes, clip(cc.text or fallback, 1024)


# Codings repeat heavily across the records of a population: a frozen Coding is built once per
# (system, code, display) and shared; a value it refuses raises again every time (never cached).
@lru_cache(maxsize=8192)
def _system(system: str) -> str:
    return canonical_system(system) or system


@lru_cache(maxsize=8192)
def _coding(system: str, code: str, display: str | None) -> facts.Coding:
    return facts.Coding(system=system, code=code, display=clip(display, 512))


def coded_status(cc: CodeableConcept | None, allowed: tuple[Code, ...]) -> tuple[Code | None, bool]:
    """(first allowed code, whether codes were present but none allowed) of a status CodeableConcept."""
    codes = [coding.code for coding in (cc.coding or [])] if cc is not None else []
    for code in codes:
        if (found := pick(code, allowed)) is not None:
            return found, False
    return None, bool(codes)


# ------------------------------------------------------------------ qualitative lab results
# How labs write a qualitative result (urine drug screens, pregnancy tests). A result is positive or
# negative only when the text says so unambiguously; anything else (inconclusive, "see note", both
# words, an unknown word) is None, so the rules treat the test as unknown, never as negative.
POSITIVE_WORDS = ("positive", "pos", "detected", "det", "present", "reactive", "presumptive positive")
NEGATIVE_WORDS = (
    "negative", "neg", "not detected", "none detected", "nondetected", "non-detected", "undetected",
    "absent", "not present", "non-reactive", "nonreactive", "not reactive",
)  # fmt: skip
# Words that may surround a result without changing it ("Positive (presumptive)", "POS, confirmed",
# "Screen negative", "Negative <300 ng/mL cutoff").
QUALIFIER_WORDS = frozenset(
    {"presumptive", "presumptively", "preliminary", "screen", "screening", "confirmed", "confirmation",
     "confirmatory", "result", "test", "urine", "by", "immunoassay", "ia", "lc-ms", "lc-ms/ms", "gc-ms",
     "cutoff", "cut-off", "cut", "off", "above", "below", "at", "or", "the", "for", "ng/ml", "ug/l", "mg/l",
     "level", "threshold", "of", "drug", "opiates", "opiate", "opioids", "opioid", "result:"}
)  # fmt: skip
_RESULT_PHRASES = sorted(
    [(w, "positive") for w in POSITIVE_WORDS] + [(w, "negative") for w in NEGATIVE_WORDS],
    key=lambda pair: -len(pair[0]),
)
_QUANTITY = re.compile(r"(?P<cmp>[<>]=?|=)?\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>ng/ml|ug/l|mg/l)?")
_CUTOFF = re.compile(r"(?:cut-?\s?off|threshold)\s*(?:of|=|:|at)?\s*(\d+(?:\.\d+)?)")


def result_from_text(text: str | None) -> str | None:
    """'positive' / 'negative' read from a lab's result string, or None when it is not unambiguous.

    Examples (tests/test_fhir_results.py): POS, Presumptive positive, Positive (presumptive) ->
    positive; Not detected, NEG -> negative; '>2000 ng/mL (cutoff 300 ng/mL)' -> positive (the value
    is compared with the cutoff the lab states, never with a cutoff assumed here); '>2000 ng/mL'
    alone, 'Inconclusive', 'positive for cocaine, negative for opiates' -> None.
    """
    if not text:
        return None
    low = " " + re.sub(r"[()\[\],;.]+", " ", text.lower()).strip() + " "
    found: set[str] = set()
    for phrase, meaning in _RESULT_PHRASES:
        padded = f" {phrase} "
        if padded in low:
            found.add(meaning)
            low = low.replace(padded, " ")
    if not found:
        found |= _by_cutoff(text.lower())
        low = _CUTOFF.sub(" ", low)
    low = _QUANTITY.sub(" ", low)
    leftover = [w for w in low.split() if w not in QUALIFIER_WORDS]
    if len(found) != 1 or leftover:
        return None
    return found.pop()


def _by_cutoff(text: str) -> set[str]:
    """A concentration compared with the cutoff the same string states ('>2000 ng/mL, cutoff 300')."""
    cutoff = _CUTOFF.search(text)
    if cutoff is None:
        return set()
    rest = _CUTOFF.sub(" ", text)
    values = [m for m in _QUANTITY.finditer(rest) if m.group("num")]
    if len(values) != 1:
        return set()
    value, limit, cmp = float(values[0].group("num")), float(cutoff.group(1)), values[0].group("cmp") or ""
    if cmp.startswith(">") and value >= limit:
        return {"positive"}
    if cmp.startswith("<") and value <= limit:
        return {"negative"}
    if not cmp or cmp == "=":
        return {"positive" if value >= limit else "negative"}
    return set()
