"""The public API of processor.patterns and the semantics the conformance set leaves open."""

from __future__ import annotations

import json

import orjson
import pytest

import processor.patterns as patterns
from processor.errors import FatalError, InvalidEventError, KbridgeError
from processor.patterns import PatternError, RuleIndex, compile_pattern


def test_public_surface_is_small() -> None:
    assert sorted(patterns.__all__) == ["Pattern", "PatternError", "RuleIndex", "compile_pattern"]


def test_pattern_error_is_value_error_and_fatal() -> None:
    with pytest.raises(PatternError) as info:
        compile_pattern({"detail": {"state": [{"prefix": 5}]}})
    error = info.value
    assert isinstance(error, ValueError)
    assert isinstance(error, FatalError) and isinstance(error, KbridgeError)
    assert not error.retriable and error.code == "invalid-pattern"
    assert error.reason == "prefix match pattern must be a string"
    assert error.path == "detail.state"
    assert str(error) == (
        "Event pattern is not valid. Reason: prefix match pattern must be a string\n"
        " at field: detail.state"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("this is not json", None),
        ('["not", "an", "object"]', "Filter is not an object"),
        ("{}", "Empty objects are not allowed"),
        ('{"a": {"$or": [{"b": [1]}]}}', "There must have at least 2 Objects in $or relationship."),
        ('{"a": [{"numeric": [">", 5, "<", 1]}]}', "Bottom must be less than top"),
        ('{"a": [{"wildcard": "a\\\\x"}]}', "Invalid escape character at pos 2"),
        ('{"a": [{"cidr": "10.0.0.0/32"}]}', "IPv4 mask bits must be < 32"),
        (
            '{"a": [{"numeric": [">", 9007199254740993]}]}',
            "Cannot compare number : 9007199254740993",
        ),
        ('{"a": [{"anything-but": {"prefix": []}}]}', "Empty arrays are not allowed"),
    ],
)
def test_invalid_patterns_are_rejected_with_a_reason(text: str, reason: str | None) -> None:
    with pytest.raises(PatternError) as info:
        compile_pattern(text)
    if reason is None:
        assert info.value.reason.startswith("Pattern is not valid JSON")
    else:
        assert info.value.reason == reason


def test_pattern_accepts_text_bytes_and_mappings() -> None:
    for source in ('{"source": ["a"]}', b'{"source": ["a"]}', {"source": ["a"]}):
        p = compile_pattern(source)
        assert p.matches('{"source": "a"}')
        assert p.matches(b'{"source": "a"}')
        assert p.matches({"source": "a"})
        assert not p.matches({"source": "b"})
    assert compile_pattern(p) is p


@pytest.mark.parametrize("event", ["not json", "[1, 2]", b"\xff", 42])
def test_bad_events_raise_invalid_event_error(event: object) -> None:
    p = compile_pattern({"a": ["x"]})
    with pytest.raises(InvalidEventError):
        p.matches(event)  # type: ignore[arg-type]


def test_router_fast_path_uses_the_parsed_dict() -> None:
    """The router parses once with orjson and hands the dict over unchanged."""
    index = RuleIndex()
    index.add("big", {"data": {"n": [{"numeric": [">", 10]}]}})
    event = orjson.loads(b'{"data": {"n": 11, "blob": "' + b"x" * 10_000 + b'"}}')
    assert index.matches(event) == {"big"}


def test_rule_index_add_replace_remove() -> None:
    index = RuleIndex()
    index.add("r1", '{"source": ["a"]}')
    index.add("r2", compile_pattern({"source": [{"prefix": "a"}]}))
    assert index.matches({"source": "ab"}) == {"r2"}
    assert index.matches({"source": "a"}) == {"r1", "r2"}
    index.add("r1", {"source": ["ab"]})  # replaces
    assert index.matches({"source": "ab"}) == {"r1", "r2"}
    assert index.matches({"source": "a"}) == {"r2"}
    index.remove("r2")
    assert "r2" not in index and len(index) == 1 and index.names() == ["r1"]
    with pytest.raises(KeyError):
        index.remove("r2")
    with pytest.raises(PatternError):
        index.add("r3", {"source": "a"})
    assert "r3" not in index


def test_array_consistency() -> None:
    """Fields of one rule must come from the same element of an array of objects."""
    p = compile_pattern({"items": {"sku": ["A"], "qty": [{"numeric": [">", 5]}]}})
    assert p.matches({"items": [{"sku": "A", "qty": 10}, {"sku": "B", "qty": 1}]})
    assert not p.matches({"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 10}]})
    # Plain values in an array are not elements: they combine with any element.
    r = compile_pattern({"a": ["x"], "a.b": ["y"]})
    assert r.matches({"a": ["x", {"b": "y"}]})
    assert not r.matches({"a": [["x"], {"b": "y"}]})
    # Fields outside the array combine freely with any element.
    q = compile_pattern({"source": ["s"], "items": {"sku": ["B"]}})
    assert q.matches({"source": "s", "items": [{"sku": "A"}, {"sku": "B"}]})


def test_json_types_are_exact() -> None:
    assert not compile_pattern({"a": [1]}).matches({"a": True})
    assert not compile_pattern({"a": [True]}).matches({"a": 1})
    assert not compile_pattern({"a": ["5"]}).matches({"a": 5})
    assert not compile_pattern({"a": [5]}).matches({"a": "5"})
    assert compile_pattern({"a": [300]}).matches(json.loads('{"a": 300.0}'))
    assert compile_pattern({"a": [{"numeric": ["=", 300]}]}).matches({"a": 3e2})
    assert not compile_pattern({"a": [{"numeric": [">", 0]}]}).matches({"a": "1"})


def test_exists_is_for_leaves_only() -> None:
    exists = compile_pattern({"a": [{"exists": True}]})
    absent = compile_pattern({"a": [{"exists": False}]})
    assert exists.matches({"a": None}) and not absent.matches({"a": None})
    assert not exists.matches({"a": {"b": 1}}) and absent.matches({"a": {"b": 1}})
    assert not exists.matches({"a": []}) and absent.matches({"a": []})
    assert absent.matches({}) and absent.matches('{"b": 1}')


def test_dotted_keys_equal_nesting_both_ways() -> None:
    p = compile_pattern({"a.b": {"c": ["x"]}})
    assert p.matches({"a": {"b": {"c": "x"}}})
    assert p.matches({"a.b": {"c": "x"}})
    assert p.matches({"a": {"b.c": "x"}})


def test_a_path_given_twice_keeps_the_later_clause() -> None:
    """As in event-ruler: {"a.b": [x], "a": {"b": [y]}} means a.b == y."""
    p = compile_pattern('{"a.b": ["x"], "a": {"b": ["y"]}}')
    assert p.matches({"a": {"b": "y"}}) and not p.matches({"a": {"b": "x"}})


def test_or_at_top_level_and_nested() -> None:
    p = compile_pattern(
        {"$or": [{"a": ["1"]}, {"b": {"$or": [{"c": ["2"]}, {"d": [{"prefix": "3"}]}]}}]}
    )
    assert p.matches({"a": "1"}) and p.matches({"b": {"c": "2"}}) and p.matches({"b": {"d": "34"}})
    assert not p.matches({"b": {"c": "1"}})


def test_wildcard_escapes_and_cidr_v6() -> None:
    w = compile_pattern({"f": [{"wildcard": "a\\*b*\\\\"}]})
    assert w.matches({"f": "a*bXYZ\\"}) and not w.matches({"f": "aXbXYZ\\"})
    c = compile_pattern({"ip": [{"cidr": "2001:db8::/32"}]})
    assert c.matches({"ip": "2001:db8:ffff::1"}) and not c.matches({"ip": "2001:db9::1"})
    assert not c.matches({"ip": "10.0.0.1"}) and not c.matches({"ip": 1})


def test_ignore_case_folds_beyond_ascii() -> None:
    p = compile_pattern({"n": [{"equals-ignore-case": "ÉCOLE"}]})
    assert p.matches({"n": "école"}) and not p.matches({"n": "ecole"})
