"""Reading JSON text fast without reading it differently: orjson where its value is provably
`json.loads`' value, the standard library everywhere else. Imports no ldncds package."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["loads", "orjson_read_exactly"]

# orjson reads an integer outside 64 bits as a float; such a literal has at least this many digits.
_LONG_INTEGER = b"0" * 19
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")  # a run of digits becomes a run of 0s
# ... and that float is at least 2**63 in magnitude, which orjson.dumps writes with an exponent >= 18.
_BEYOND_64_BITS = re.compile(rb"e\+(?:1[89]|[2-9][0-9]|[0-9]{3})")


def loads(raw: bytes) -> Any:
    """`json.loads(raw)`, the same value, read by orjson (about 4x faster) where that is provably equal.

    orjson refuses what the standard library tolerates (NaN, a lone surrogate escape, a BOM, 1e400):
    the standard library then decides, and so also raises its own errors. The only value orjson
    reads differently is an integer beyond 64 bits (as a float): see `orjson_read_exactly`.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
    if orjson_read_exactly(raw, value):
        return value
    return json.loads(raw)


def orjson_read_exactly(raw: bytes, value: Any, dumped: bytes | None = None) -> bool:
    """True when `value`, orjson's reading of `raw`, is `json.loads(raw)`.

    Only an integer literal beyond 64 bits is read differently (as a float). Such a literal is a run
    of at least 19 digits, so text without one is read exactly (most text: a fast byte scan). Text
    with one (Synthea's narratives quote 19-digit seeds) is read exactly unless the value holds a
    float of at least 2**63 in magnitude, which orjson writes with an exponent of 18 or more; a
    string that merely spells such an exponent only sends the text to the standard library.
    `dumped`: orjson.dumps(value), in any indentation, when the caller has it already.
    """
    if _LONG_INTEGER not in raw.translate(_DIGITS_AS_ZERO):
        return True
    if dumped is None:
        dumped = orjson.dumps(value)
    return _BEYOND_64_BITS.search(dumped) is None
