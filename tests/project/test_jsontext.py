"""`ldncds.jsontext`: orjson's reading is used only where it is exactly json.loads' value.

orjson reads an integer literal beyond 64 bits as a float. Text with a 19-digit run is therefore
checked further; text whose run sits in a string (Synthea quotes 19-digit seeds in its narratives)
must still take the fast path, and a real overflowing integer never may.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ldncds.jsontext import loads, orjson_read_exactly


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


def exact(raw: bytes) -> bool:
    return orjson_read_exactly(raw, orjson.loads(raw))


def test_a_long_digit_run_in_a_string_is_read_by_orjson() -> None:
    raw = b'{"text":{"div":"<div>Person seed: -6684078290682807749 Population seed: 1</div>"},"n":12}'
    assert exact(raw)
    assert _same(loads(raw), json.loads(raw))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":18446744073709551616}',  # 2**64
        b'{"a":-9223372036854775809}',  # -2**63 - 1
        b'{"a":123456789012345678901234567890}',
        b'{"a":"1234567890123456789","b":99999999999999999999}',
    ],
)
def test_an_integer_beyond_64_bits_is_never_read_by_orjson(raw: bytes) -> None:
    assert not exact(raw)
    assert _same(loads(raw), json.loads(raw))
    assert all(type(v) is int for v in loads(raw).values() if not isinstance(v, str))


@pytest.mark.parametrize("raw", [b'{"a":18446744073709551615}', b'{"a":-9223372036854775808}'])
def test_the_64_bit_limits_themselves_are_read_by_orjson(raw: bytes) -> None:
    assert exact(raw)
    assert _same(loads(raw), json.loads(raw))


_NEAR_LIMITS = st.one_of(
    st.integers(min_value=-(2**66), max_value=2**66),
    st.integers(min_value=2**63 - 5, max_value=2**64 + 5),
    st.integers(min_value=-(2**63) - 5, max_value=-(2**63) + 5),
    st.floats(min_value=-1e25, max_value=1e25),
    st.from_regex(r"[0-9 -]{0,30}", fullmatch=True),
    st.sampled_from(["e+19", "1e+18", "x"]),
)
_DOCUMENTS = st.recursive(
    _NEAR_LIMITS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(_DOCUMENTS)
def test_numbers_near_the_64_bit_limits_read_as_json_loads(value: Any) -> None:
    raw = json.dumps(value).encode()
    assert _same(loads(raw), json.loads(raw))
