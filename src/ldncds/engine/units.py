"""Units of observation values: one spelling per unit, and the conversions rules may rely on.

Labs write the same unit many ways (`mL/min/{1.73_m2}`, `mL/min/1.73m2`, `ml/min/1.73 m^2`) and
some send SI units (`mL/s/{1.73_m2}`). A rule compares numbers, so it must know they are in its
unit: `canonical` gives the UCUM spelling of a known unit and the value converted to it. An unknown
unit is kept as written, and a rule that needs a unit (`value_unit:`) does not match it.
"""

from __future__ import annotations

import re

# Spelling (lower case, without spaces, braces, underscores, '^' or '*') -> (UCUM unit, factor).
# The factors are unit conversions (1 mL/s = 60 mL/min), not clinical thresholds.
_UNITS: dict[str, tuple[str, float]] = {
    "ml/min/1.73m2": ("mL/min/{1.73_m2}", 1.0),
    "ml/min/1.73msq": ("mL/min/{1.73_m2}", 1.0),
    "ml/min/per1.73m2": ("mL/min/{1.73_m2}", 1.0),
    "ml/s/1.73m2": ("mL/min/{1.73_m2}", 60.0),
    "ml/sec/1.73m2": ("mL/min/{1.73_m2}", 60.0),
}
_NOISE = re.compile(r"[\s{}_^*]")


def canonical(value: float | None, unit: str | None) -> tuple[float | None, str | None]:
    """(value in the canonical unit, canonical unit); an unknown unit is returned as written."""
    if not unit or not unit.strip():
        return value, None
    known = _UNITS.get(_NOISE.sub("", unit.lower()))
    if known is None:
        return value, unit.strip()
    name, factor = known
    return (round(value * factor, 6) if value is not None else None), name
