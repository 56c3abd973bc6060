"""lean.Shortcut (the fast way to a date, dateTime or instant value) against fhir_core's validation.

The shortcut is only safe if, for every value, it accepts exactly what fhir_core accepts (a refusal
goes to full validation, which alone reports errors) and gives the very same value: the same type,
the same fields and the same time-zone object. These tests build both validators from the types
the lean models use and compare them on generated strings near the forms, on the forms the
Synthea sample and the synthetic population use, and on non-string values.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import fhirtypes
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from ldncds.fhir import lean
from ldncds.screening import generate_population

PAIRS = {
    "date": (TypeAdapter(lean.DateType), TypeAdapter(fhirtypes.DateType)),
    "dateTime": (TypeAdapter(lean.DateTimeType), TypeAdapter(fhirtypes.DateTimeType)),
    "instant": (TypeAdapter(lean.InstantType), TypeAdapter(fhirtypes.InstantType)),
}
SYNTHEA = Path(__file__).resolve().parents[1] / "fixtures" / "bulk" / "synthea-bulk-10"
_DATELIKE = re.compile(r'"([0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[^"]*)?)?)?)"')


def _outcome(adapter: TypeAdapter[Any], value: Any) -> tuple[str, str, str] | str:
    """What validation gives, down to the type and the time-zone object (== would hide both)."""
    try:
        got = adapter.validate_python(value)
    except (ValidationError, ValueError):
        return "refused"
    zone = getattr(got, "tzinfo", None)
    return type(got).__name__, repr(got), f"{type(zone).__name__}:{zone!r}"


def _assert_same(value: Any) -> None:
    for kind, (fast, full) in PAIRS.items():
        assert _outcome(fast, value) == _outcome(full, value), (kind, value)


_PARTS = st.sampled_from(
    ["2024", "0001", "0000", "9999", "1900", "-", "02", "13", "00", "29", "30", "31", "T", "24", "23",
     ":", "59", "60", "61", ".", "5", "123456", "1234567", "Z", "z", "+", "-", "14", "15", "00:00",
     "+14:00", "-14:01", "+05:30", " ", "t", "\n", "１"]
)  # fmt: skip
_NEAR_FORMS = st.lists(_PARTS, min_size=1, max_size=14).map("".join)
_FORMS = st.builds(
    "{:04d}-{:02d}-{:02d}{}".format,
    st.integers(0, 10000),
    st.integers(0, 13),
    st.integers(0, 32),
    st.sampled_from(["", "T"]).flatmap(
        lambda t: (
            st.just("")
            if not t
            else st.builds(
                "T{:02d}:{:02d}:{:02d}{}{}".format,
                st.integers(0, 24),
                st.integers(0, 60),
                st.integers(0, 61),
                st.sampled_from(["", ".0", ".5", ".123456", ".1234567895"]),
                st.sampled_from(
                    ["", "Z", "+00:00", "-05:00", "+14:00", "-14:00", "+13:59", "+14:30", "-00:00"]
                ),
            )
        )
    ),
)


@settings(max_examples=1500, deadline=None)
@given(_FORMS | _NEAR_FORMS)
def test_the_shortcut_gives_fhir_cores_outcome(value: str) -> None:
    _assert_same(value)


@pytest.mark.parametrize(
    "value",
    [
        "2024-02-29", "2023-02-29", "2024-02-30", "2024-04-31", "0001-01-01", "9999-12-31",
        "2024-01-01T00:00:00Z", "2024-01-01T23:59:59.999999+14:00", "2024-01-01T23:59:59.9999995Z",
        "2016-12-31T23:59:60Z", "2024-01-01T10:00:00", "2024-01-01T10:00Z", "2024-01", "2024",
        "2024-01-01T10:00:00.-05:00", "2024-01-01T10:00:00+0500", "2024-01-01\n", " 2024-01-01",
        20240101, 1.5, None, True, b"2024-01-01", date(2024, 1, 1), ["2024-01-01"],
    ],
)  # fmt: skip
def test_edge_values_give_fhir_cores_outcome(value: Any) -> None:
    _assert_same(value)


def _strings_of(lines: list[bytes]) -> set[str]:
    return {m.group(1) for line in lines for m in _DATELIKE.finditer(line.decode("utf-8"))}


def test_the_recorded_forms_give_fhir_cores_outcome_and_take_the_shortcut(tmp_path: Path) -> None:
    """The dates records carry: the same values, and they are the forms the shortcut is for."""
    lines = [
        raw
        for p in sorted(SYNTHEA.glob("*.ndjson.gz"))
        for raw in gzip.decompress(p.read_bytes()).splitlines()
    ]
    generate_population(30, tmp_path, seed=3, on=date(2026, 3, 1))
    lines += [raw for p in sorted(tmp_path.glob("*.ndjson")) for raw in p.read_bytes().splitlines()]
    strings = _strings_of(lines)
    assert len(strings) > 500
    for value in strings:
        _assert_same(value)
    forms = (lean.DATE_FORM, lean.DATETIME_FORM)
    complete = [v for v in strings if len(v) >= len("2024-01-01")]
    assert all(any(re.fullmatch(f.strip("^$"), v) for f in forms) for v in complete), "a form is missed"
    json.dumps(sorted(strings))  # they are plain strings


def test_a_resource_reads_the_same_values() -> None:
    raw = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "effectiveDateTime": "2024-03-01",
        "issued": "2024-03-01T10:00:00.123-05:00",
        "valuePeriod": {"start": "2024-03-01T10:00:00Z", "end": "2024-03"},
    }
    fast = lean.parse(raw)
    assert isinstance(fast, lean.Observation) and fast.valuePeriod is not None
    full = fhirtypes.ObservationType.get_model_klass().model_validate(raw)
    for name in ("effectiveDateTime", "issued"):
        assert repr(getattr(fast, name)) == repr(getattr(full, name)), name
    assert repr(fast.valuePeriod.start) == repr(full.valuePeriod.start)
    assert fast.valuePeriod.end == full.valuePeriod.end == "2024-03"
