"""Observation units: every spelling of the eGFR unit is one unit, SI values are converted, and an
unknown unit is kept as written (a rule that needs the unit then does not match)."""

from __future__ import annotations

import pytest

from ldncds.engine.units import canonical

EGFR = "mL/min/{1.73_m2}"


@pytest.mark.parametrize(
    "written",
    [
        "mL/min/{1.73_m2}",
        "mL/min/1.73m2",
        "ml/min/1.73 m2",
        "mL/min/1.73 m^2",
        "mL/min/1.73m*2",
        "ML/MIN/1.73M2",
    ],
)
def test_every_spelling_of_the_egfr_unit_is_one_unit(written: str) -> None:
    assert canonical(45.0, written) == (45.0, EGFR)


@pytest.mark.parametrize(
    ("value", "written", "expected"), [(1.2, "mL/s/{1.73_m2}", 72.0), (0.4, "ml/s/1.73m2", 24.0)]
)
def test_si_values_are_converted(value: float, written: str, expected: float) -> None:
    assert canonical(value, written) == (expected, EGFR)


def test_an_unknown_or_missing_unit_is_kept_as_written() -> None:
    assert canonical(1.2, " mg/dL ") == (1.2, "mg/dL")
    assert canonical(24.0, None) == (24.0, None)
    assert canonical(24.0, "  ") == (24.0, None)
    assert canonical(None, "mL/s/{1.73_m2}") == (None, EGFR)
