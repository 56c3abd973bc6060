"""The export reader's JSON parser gives exactly `json.loads`' value, or raises as it does.

`ldncds.jsontext.loads` (the export reader's and the engine workers') reads with orjson where that
is provably the same value and falls back to the standard library otherwise; a number read
differently (an integer beyond 64 bits as a float would change a lab value or an id) or a line
accepted by one and refused by the other would change rows.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ldncds import jsontext
from ldncds.screening import generate_population
from ldncds.screening.bulk import loads

EDGE_CASES = [
    b'{"a":123456789012345678901234567890}',  # beyond 64 bits: orjson would read a float
    b'{"a":18446744073709551616}',
    b'{"a":-9223372036854775809}',
    b'{"a":18446744073709551615,"b":-9223372036854775808}',  # the 64-bit limits themselves
    b'{"id":"1234567890123456789012"}',  # 19+ digits inside a string: only text, read by orjson
    b'{"id":"a\\"12345678901234567890","n":12345678901234567890123}',  # escaped quote, then a big int
    b'{"id":"a\\\\","n":12345678901234567890123}',  # an escaped backslash closes nothing early
    b'{"id":"a\\\\\\"12345678901234567890123"}',  # \\\" : a backslash, then an escaped quote
    b'[12345678901234567890123,"12345678901234567890123"]',
    b'{"a":1e400}',  # orjson refuses; json reads inf
    b'{"a":NaN,"b":-Infinity}',
    b'{"a":"\\ud800"}',  # a lone surrogate escape
    b'\xef\xbb\xbf{"a":1}',  # a UTF-8 byte-order mark
    b'{"a":1,"b":2,"a":3}',  # duplicate keys: the last wins, at the first one's place
    b'{"a":-0.0,"b":0.1,"c":1E-7,"d":2.5e+3,"e":"\\u00e9\\n\\ud83d\\ude00"}',
    b' {"a":[1,2,{"b":null}]} \n',
]
SYNTHEA = Path(__file__).resolve().parents[1] / "fixtures" / "bulk" / "synthea-bulk-10"
REFUSED = [b"", b"{", b'{"a":1}x', b"\xff\xfe", b'{"a":"\xc3"}', b"{'a':1}"]


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types (1 == 1.0 would hide an int read as a float; NaN != NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


@pytest.mark.parametrize("raw", EDGE_CASES)
def test_edge_cases_read_as_json_loads(raw: bytes) -> None:
    assert _same(loads(raw), json.loads(raw))


def test_big_integers_stay_exact() -> None:
    value = loads(b'{"valueQuantity":{"value":123456789012345678901234567890}}')
    assert value["valueQuantity"]["value"] == 123456789012345678901234567890


@pytest.mark.parametrize("raw", REFUSED)
def test_refused_lines_raise_as_json_loads(raw: bytes) -> None:
    with pytest.raises(ValueError) as expected:
        json.loads(raw)
    with pytest.raises(type(expected.value)):
        loads(raw)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans())
def test_any_json_reads_as_json_loads(value: Any, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")
    assert _same(loads(raw), json.loads(raw))


_DIGITS = st.integers(min_value=10**18, max_value=10**30) | st.integers(max_value=-(10**18))
_TRICKY_TEXT = st.lists(
    st.sampled_from(['"', "\\", "\\\\", ":", ",", " ", "x", "\u00e9"]) | _DIGITS.map(str), max_size=6
).map("".join)
_TRICKY = st.recursive(
    st.none() | _DIGITS | st.floats(allow_nan=False) | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TRICKY_TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(_TRICKY, st.booleans())
def test_long_digit_runs_in_strings_and_numbers_read_as_json_loads(value: Any, ascii_only: bool) -> None:
    """Big integers, and digit runs inside strings next to quotes and backslashes: same values."""
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")
    assert _same(loads(raw), json.loads(raw))


def test_a_digit_run_inside_a_string_is_read_by_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Synthea narrative's "Person seed: -6684078290682807749" is text: no slow path for it."""
    patient = (SYNTHEA / "Patient.000.ndjson.gz").read_bytes()
    line = next(raw for raw in gzip.decompress(patient).splitlines() if re.search(rb"[0-9]{19}", raw))
    expected = json.loads(line)

    def refuse(raw: bytes) -> Any:
        raise AssertionError("read by the standard library")

    monkeypatch.setattr(jsontext.json, "loads", refuse)
    assert _same(loads(line), expected)


def test_a_synthetic_export_reads_as_json_loads(tmp_path: Path) -> None:
    generate_population(60, tmp_path, seed=7, on=date(2026, 3, 1))
    lines = [line for path in sorted(tmp_path.glob("*.ndjson")) for line in path.read_bytes().splitlines()]
    assert len(lines) > 200
    assert all(_same(loads(line), json.loads(line)) for line in lines)
