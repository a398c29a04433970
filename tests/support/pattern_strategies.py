"""Hypothesis strategies for event patterns and events, shared by the pattern tests.

Field names, strings and numbers come from small pools on purpose, so that generated
patterns and events collide often (a random pattern almost never matches a random event
otherwise). The pools hold the edge cases: case folding beyond ASCII, numbers around the
limits of doubles, IP-looking strings, wildcard metacharacters.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import strategies as st

KEYS = ["a", "b", "c"]
EVENT_KEYS = [*KEYS, "a.b", "b.c"]

_STRING_POOL = [
    "",
    "a",
    "ab",
    "abc",
    "b",
    "ba",
    "A",
    "Ab",
    "ABC",
    "aB",
    "x.y",
    "*",
    "a*b",
    "\\",
    "é",
    "É",
    "ß",
    "SS",
    "İ",
    "ı",
    "i",
    "I",
    "ǅ",
    "🚀",
    "a🚀",
    "Ω",
    "ω",
    "10.0.0.1",
    "10.0.0.255",
    "10.0.1.0",
    "010.0.0.1",
    "192.168.1.1",
    "2001:db8::1",
    "2001:db8:0:0:0:0:0:1",
    "::1",
    "1.2.3",
    "300",
    "true",
    "null",
]
strings = st.sampled_from(_STRING_POOL) | st.text(alphabet="abAB.*é🚀", max_size=4)

_NUMBER_POOL: list[int | float] = [
    0,
    -0.0,
    1,
    -1,
    1.5,
    2,
    300,
    300.0,
    5e9,
    5000000001,
    -5e9,
    1e15,
    2**53,
    2**53 + 1,
    1e-7,
    1e-6,
    0.1,
    0.30000000000000004,
    1e308,
    -1e308,
    123456789.123456,
    1.0000001,
    2.2250738585072014e-308,
]
_floats = (
    st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)
    .map(lambda x: float(f"{x:.15g}"))
    .filter(math.isfinite)
)
"""At most 15 significant digits: there Java's ``Double.toString`` and Python's ``repr``
agree, so both engines see the same numbers (see ``_comparable`` in the parser)."""
numbers = st.sampled_from(_NUMBER_POOL) | st.integers(-1000, 1000) | _floats
leaves = strings | numbers | st.booleans() | st.none()
event_leaves = strings | numbers | st.booleans() | st.none()

_wild_chars = st.sampled_from(["a", "b", "A", "*", ".", "é", "\\*", "\\\\", "a", "b"])
_bad_wild_chars = st.sampled_from(["a", "*", "\\", "\\x", "**"])
wildcards = st.lists(_wild_chars, max_size=5).map("".join)

_ab_strings = st.sampled_from(["a", "ab", "b", "A", "é", "🚀", "10.0.0.1", "x"])
cidrs = st.sampled_from(
    # No /0 blocks: event-ruler matches them against numbers too (see the differential
    # tests' known differences); kbridge matches IP addresses only.
    [
        "10.0.0.0/24",
        "10.0.0.0/8",
        "10.0.0.1/31",
        "192.168.0.0/16",
        "2001:db8::/32",
        "2001:db8::/127",
        "10.0.0.1/32",
        "::1/128",
        "10.0.0.0/31",
    ]
)

_bounds = st.sampled_from(_NUMBER_POOL) | st.integers(-10, 10)


def _numeric_terms(draw: Any) -> list[Any]:
    shape = draw(st.sampled_from(["=", "<", "<=", ">", ">=", "range"]))
    if shape != "range":
        return [shape, draw(_bounds)]
    lo, hi = sorted([draw(_bounds), draw(_bounds)])
    if lo == hi:
        hi = lo + 1
    return [draw(st.sampled_from([">", ">="])), lo, draw(st.sampled_from(["<", "<="])), hi]


@st.composite
def match_expressions(draw: Any) -> Any:
    """One element of a pattern's value list: a literal or an operator object."""
    kind = draw(
        st.sampled_from(
            [
                "exact",
                "exact",
                "prefix",
                "suffix",
                "prefix-ic",
                "suffix-ic",
                "eic",
                "wildcard",
                "ab",
                "ab-list",
                "ab-num",
                "ab-prefix",
                "ab-suffix",
                "ab-ic",
                "ab-wildcard",
                "numeric",
                "exists",
                "cidr",
            ]
        )
    )
    if kind == "exact":
        return draw(leaves)
    if kind in ("prefix", "suffix"):
        return {kind: draw(strings)}
    if kind in ("prefix-ic", "suffix-ic"):
        return {kind[:6]: {"equals-ignore-case": draw(strings)}}
    if kind == "eic":
        return {"equals-ignore-case": draw(strings)}
    if kind == "wildcard":
        return {"wildcard": draw(wildcards)}
    if kind == "ab":
        return {"anything-but": draw(_ab_strings | numbers)}
    if kind == "ab-list":
        return {"anything-but": draw(st.lists(_ab_strings, min_size=1, max_size=3))}
    if kind == "ab-num":
        return {"anything-but": draw(st.lists(_bounds, min_size=1, max_size=3))}
    if kind in ("ab-prefix", "ab-suffix"):
        operand = draw(_ab_strings | st.lists(_ab_strings, min_size=1, max_size=2))
        return {"anything-but": {kind[3:]: operand}}
    if kind == "ab-ic":
        operand = draw(_ab_strings | st.lists(_ab_strings, min_size=1, max_size=2))
        return {"anything-but": {"equals-ignore-case": operand}}
    if kind == "ab-wildcard":
        operand = draw(wildcards | st.lists(wildcards, min_size=1, max_size=2))
        return {"anything-but": {"wildcard": operand}}
    if kind == "numeric":
        return {"numeric": _numeric_terms(draw)}
    if kind == "exists":
        return {"exists": draw(st.booleans())}
    return {"cidr": draw(cidrs)}


_json_junk = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "a", "<", "=", "*"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "prefix",
                    "suffix",
                    "numeric",
                    "exists",
                    "anything-but",
                    "x",
                    "equals-ignore-case",
                    "wildcard",
                    "cidr",
                ]
            ),
            inner,
            max_size=2,
        )
    ),
    max_leaves=5,
)


@st.composite
def invalid_candidates(draw: Any) -> Any:
    """Operator objects with arbitrary operands: mostly invalid, sometimes not."""
    if draw(st.integers(0, 9)) == 0:
        return {"wildcard": draw(st.lists(_bad_wild_chars, min_size=1, max_size=4).map("".join))}
    op = draw(
        st.sampled_from(
            [
                "prefix",
                "suffix",
                "numeric",
                "exists",
                "anything-but",
                "equals-ignore-case",
                "wildcard",
                "cidr",
                "exactly",
                "EXISTS",
            ]
        )
    )
    return {op: draw(_json_junk)}


def pattern_objects(junk: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Pattern documents: nested fields, value lists, ``$or`` (nested too)."""
    element = match_expressions() | invalid_candidates() if junk else match_expressions()
    value_lists = st.lists(element, min_size=1, max_size=3)

    def extend(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        nested = st.dictionaries(
            st.sampled_from(EVENT_KEYS), value_lists | inner, min_size=1, max_size=2
        )
        with_or = st.tuples(nested, st.lists(inner, min_size=2, max_size=3)).map(
            lambda t: {**t[0], "$or": t[1]}
        )
        return nested | with_or

    base = st.dictionaries(st.sampled_from(EVENT_KEYS), value_lists, min_size=1, max_size=3)
    return st.recursive(base, extend, max_leaves=4)


def events() -> st.SearchStrategy[dict[str, Any]]:
    """Events: nested objects, arrays of values and arrays of objects."""
    values = st.recursive(
        event_leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(EVENT_KEYS), inner, max_size=3)
        ),
        max_leaves=8,
    )
    return st.dictionaries(st.sampled_from(EVENT_KEYS), values, max_size=3)


def dumps(document: Any) -> str:
    """JSON text both engines parse to the same doubles and strings."""
    return json.dumps(document, allow_nan=False)
