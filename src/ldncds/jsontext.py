"""Reading JSON text fast without reading it differently: orjson where its value is provably
`json.loads`' value, the standard library everywhere else. Imports no ldncds package."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["loads"]

# orjson reads an integer outside 64 bits as a float; such a literal has at least this many digits.
_LONG_INTEGER = b"0" * 19
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")  # a run of digits becomes a run of 0s
_ZEROS = re.compile(rb"0+")
_ESCAPED_QUOTE = re.compile(rb'(\\+)"')  # a quote after backslashes: escaped when their count is odd


def loads(raw: bytes) -> Any:
    """`json.loads(raw)`, the same value, read by orjson (about 4x faster) where that is provably equal.

    orjson refuses what the standard library tolerates (NaN, a lone surrogate escape, a BOM, 1e400):
    the standard library then decides, and so also raises its own errors. The only value orjson
    reads differently is an integer beyond 64 bits (as a float); a text with a run of 19 digits
    outside its strings is read by the standard library. Runs inside strings (a Synthea narrative's
    "Person seed: -6684078290682807749") are only text and cannot be misread.
    """
    if not _digit_run_outside_strings(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def _digit_run_outside_strings(raw: bytes) -> bool:
    """Some run of 19+ digits starts outside a JSON string (exact for text orjson then accepts as JSON).

    In valid JSON a `"` outside a string opens one, and inside one it closes it unless an odd run
    of backslashes precedes it; neither byte occurs within a UTF-8 multi-byte sequence. So a
    position is inside a string exactly when the unescaped quotes before it are odd in number.
    Text that is not valid JSON is refused by orjson and read by the standard library anyway.
    """
    zeros = raw.translate(_DIGITS_AS_ZERO)  # (a C loop: a regex for digit runs costs 15x more)
    start = zeros.find(_LONG_INTEGER)
    while start >= 0:
        escaped = sum(len(m.group(1)) % 2 for m in _ESCAPED_QUOTE.finditer(raw, 0, start))
        if (raw.count(b'"', 0, start) - escaped) % 2 == 0:
            return True
        end = _ZEROS.match(zeros, start).end()  # type: ignore[union-attr]  # a 0 is at start
        start = zeros.find(_LONG_INTEGER, end)
    return False
