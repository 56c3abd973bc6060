"""The guard's JSON check walks a large chart without building a path per value: it refuses exactly
what the previous walk refused, with the same status, message and named field (reference below)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ldncds.api.guard import Limits, Refused, check_json
from ldncds.service.errors import json_path


def previous_check_json(body: bytes, limits: Limits) -> None:
    """The check as it was (a path tuple and a closure per value), kept as the reference."""
    if not body.strip():
        return
    try:
        value = json.loads(body)
    except RecursionError:
        raise Refused(422, f"The JSON is nested deeper than {limits.depth} levels.") from None
    except ValueError:
        return
    resources = 0
    for values, (item, depth, where) in enumerate(_walk(value), start=1):
        if values > limits.values:
            raise Refused(413, f"The JSON holds more than {limits.values} values.", code="too-costly")
        if depth > limits.depth:
            raise Refused(422, f"The JSON is nested deeper than {limits.depth} levels.", json_path(where()))
        if isinstance(item, dict) and isinstance(item.get("resourceType"), str):
            resources += 1
            if resources > limits.resources:
                message = f"The request holds more than {limits.resources} FHIR resources."
                raise Refused(413, message, code="too-costly")
        elif isinstance(item, float) and not math.isfinite(item):
            raise Refused(422, "NaN and Infinity are not numbers JSON allows.", json_path(where()))


def _walk(root: Any) -> Iterator[tuple[Any, int, Any]]:
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(root, 0, ())]
    while stack:
        item, depth, path = stack.pop()
        yield item, depth, lambda path=path: path
        if isinstance(item, dict):
            stack.extend((v, depth + 1, (*path, k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, depth + 1, (*path, i)) for i, v in enumerate(item))


def verdict(check: Any, body: bytes, limits: Limits) -> tuple[Any, ...] | None:
    try:
        check(body, limits)
    except Refused as refused:
        return refused.status, refused.message, refused.expression, refused.code
    return None


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["Condition", "x", ""]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["resourceType", "a", "b", "entry"]), inner, max_size=4),
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(document=documents, depth=st.integers(1, 6), values=st.integers(1, 40), resources=st.integers(0, 3))
def test_the_walk_refuses_what_the_previous_walk_refused(
    document: Any, depth: int, values: int, resources: int
) -> None:
    body = json.dumps(document).encode()  # NaN and Infinity written as the literals json.loads reads
    limits = Limits(10_000, depth, values, resources)
    assert verdict(check_json, body, limits) == verdict(previous_check_json, body, limits)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"  ",
        b"NaN",
        b'[1, {"a": Infinity}]',
        b"not json",
        b"[" * 3000 + b"]" * 3000,
        b"[" * 1100 + b"]" * 1100,  # past orjson's nesting limit, within json's
        b'{"a": [1e400]}',  # read as infinity by json
        b'{"n": 123456789012345678901234567890}',  # beyond 64 bits: orjson refuses, json reads
        b'{"s": "\\ud800"}',  # a lone surrogate escape
        b'\xef\xbb\xbf{"a": 1}',  # a byte order mark
        b'{"a": 1, "a": NaN}',  # duplicate keys: the last one counts
    ],
)
def test_edge_bodies_get_the_previous_verdict(body: bytes) -> None:
    limits = Limits(10_000, 64, 100, 10)
    assert verdict(check_json, body, limits) == verdict(previous_check_json, body, limits)


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(
    ("body", "limits"),
    [
        (b'{"resourc\\u0065Type": "Patient"}', Limits(10_000, 64, 100, 0)),  # an escaped key is a resource
        (b'[{"resourceType": "A"}, {"resourceType": "B"}]', Limits(10_000, 64, 100, 1)),
        (b'["resourceType", "resourceType"]', Limits(10_000, 64, 100, 0)),  # strings, not resources
        (_nested(6), Limits(10_000, 6, 100, 10)),  # a value exactly at the depth limit
        (_nested(7), Limits(10_000, 6, 100, 10)),  # one level deeper
        (b"[1, 2, 3]", Limits(10_000, 64, 4, 10)),  # exactly the values allowed (the root counts)
        (b"[1, 2, 3, 4]", Limits(10_000, 64, 4, 10)),
        (b'["a,b,c,d,e", "[[[{{{"]', Limits(10_000, 64, 3, 10)),  # brackets in strings: the walk decides
        (b"[" * 300 + b"]" * 300, Limits(10_000, 400, 1000, 10)),  # past orjson's writing limit
    ],
)
def test_the_fast_bounds_give_the_walks_verdict_at_every_limit(body: bytes, limits: Limits) -> None:
    assert verdict(check_json, body, limits) == verdict(previous_check_json, body, limits)
