"""Property tests: for any event and any JSON template, the output is the JSON we expect.

The oracle builds the expected Python value straight from the template's tree (a value
placeholder becomes the variable, a placeholder inside a string its text), so the test checks
both that the output parses and that it means the right thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.transform import TransformError, TransformSpecError, compile_transform
from processor.transform.jsonpath import MISSING, compile_path

RULE = 'rule "quoted" \\ 规则'

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=15,
)
_events = st.fixed_dictionaries(
    {"specversion": st.just("1.0"), "id": st.text(max_size=8), "data": _json},
    optional={"subject": st.text(max_size=8), "k1": _json},
)
_PATHS = ["$", "$.data", "$.data.k1", "$.data[0]", "$.data.*", "$.k1", "$.k1[*]", "$.nowhere"]
_VARIABLES = ["v0", "v1", "v2", "v-3", "kbridge.rule-name", "aws.events.rule-name"]
# Literal template text never holds '<', so it cannot form a placeholder by accident.
_literal_text = st.text(
    st.characters(exclude_characters="<", exclude_categories=("Cs",)), max_size=8
)


@dataclass(frozen=True)
class Placeholder:
    name: str
    quoted: bool


@dataclass(frozen=True)
class StringNode:
    parts: tuple[str | Placeholder, ...]


_placeholders = st.builds(Placeholder, st.sampled_from(_VARIABLES), st.booleans())
_string_nodes = st.builds(
    StringNode,
    st.lists(
        _literal_text | st.builds(Placeholder, st.sampled_from(_VARIABLES), st.just(False))
    ).map(tuple),
)
_template_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(-1e6, 1e6, allow_nan=False)
    | _placeholders
    | _string_nodes
)
_templates = st.recursive(
    _template_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.lists(st.tuples(_literal_text, children), max_size=4)
    ),
    max_leaves=12,
)
_whitespace = st.sampled_from(["", " ", "\n  ", "\t"])


def _serialise(node: Any, ws: str, ascii: bool = True) -> str:
    """Template text for ``node``; object nodes are lists of (key, child) pairs."""

    def quote(text: str) -> str:
        return json.dumps(text, ensure_ascii=ascii)

    if isinstance(node, Placeholder):
        return f'"<{node.name}>"' if node.quoted else f"<{node.name}>"
    if isinstance(node, StringNode):
        body = "".join(
            f"<{p.name}>" if isinstance(p, Placeholder) else quote(p)[1:-1] for p in node.parts
        )
        return f'"{body}"'
    if isinstance(node, list) and all(isinstance(c, tuple) for c in node) and node:
        items = (f"{ws}{quote(k)}{ws}:{ws}{_serialise(c, ws, ascii)}" for k, c in node)
        return "{" + ",".join(items) + ws + "}"
    if isinstance(node, list):
        return "[" + ",".join(f"{ws}{_serialise(c, ws, ascii)}" for c in node) + ws + "]"
    return json.dumps(node)


def _variable(name: str, event: dict[str, Any], paths: dict[str, str]) -> Any:
    if name.endswith("rule-name"):
        return RULE
    return compile_path(paths[name]).select(event)


def _text(value: Any) -> str:
    """EventBridge's text of a value inside a string: objects and arrays lose the quotes of
    their strings (the AWS user guide, "Common issues with transforming input")."""
    if value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{" + ",".join(k + ":" + _text(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return orjson.dumps(value).decode()


class _Refused(Exception):
    """The oracle's answer for templates EventBridge does not deliver."""


def _expected(node: Any, event: dict[str, Any], paths: dict[str, str]) -> Any:
    if isinstance(node, Placeholder):
        value = _variable(node.name, event, paths)
        if node.quoted and isinstance(value, dict | list):
            raise _Refused  # an object or array quoted as a whole string value
        return "" if value is MISSING else value  # missing: "" as recorded against AWS
    if isinstance(node, StringNode):
        parts = [p for p in node.parts if p != ""]
        if len(parts) == 1 and isinstance(parts[0], Placeholder):
            return _expected(Placeholder(parts[0].name, True), event, paths)
        return "".join(
            _text(_variable(p.name, event, paths)) if isinstance(p, Placeholder) else p
            for p in parts
        )
    if isinstance(node, list) and all(isinstance(c, tuple) for c in node) and node:
        return {k: _expected(c, event, paths) for k, c in node}
    if isinstance(node, list):
        return [_expected(c, event, paths) for c in node]
    return node


_roots = st.one_of(
    st.lists(st.tuples(_literal_text, _templates), max_size=5),
    st.lists(_templates, max_size=5),
    _string_nodes,
)
_paths = st.fixed_dictionaries({v: st.sampled_from(_PATHS) for v in _VARIABLES[:4]})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=_events, root=_roots, paths=_paths, ws=_whitespace, ascii=st.booleans())
def test_any_event_any_json_template_renders_the_expected_json(
    event: dict[str, Any], root: Any, paths: dict[str, str], ws: str, ascii: bool
) -> None:
    template = _serialise(root, ws, ascii)
    t = compile_transform({"input_paths": paths, "input_template": template})
    assert t.content_type == "application/json"
    try:
        expected = _expected(root, event, paths)
    except _Refused:
        with pytest.raises(TransformError, match="placed in quotes"):
            t.apply(event, rule_name=RULE, ingestion_time="2026-11-26T00:00:00Z")
        return
    out = t.apply(event, rule_name=RULE, ingestion_time="2026-11-26T00:00:00Z")
    assert orjson.loads(out) == expected


_edits = st.sampled_from(
    [*'{}[]":,<> \\\n\tab01-.', "<v0>", "<s>", "<kbridge.event>", "<nope>", "true", "é"]
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    event=_events,
    root=_roots,
    edits=st.lists(st.tuples(st.integers(0, 10**4), st.booleans(), _edits), max_size=3),
)
def test_any_template_text_compiles_or_fails_clearly_and_json_output_parses(
    event: dict[str, Any], root: Any, edits: list[tuple[int, bool, str]]
) -> None:
    """Valid JSON templates with random insertions and deletions: never a crash."""
    template = _serialise(root, " ")
    for position, insert, piece in edits:
        at = position % (len(template) + 1)
        template = (
            template[:at] + piece + template[at:] if insert else template[:at] + template[at + 1 :]
        )
    try:
        t = compile_transform(
            {"input_paths": {"v0": "$.data", "v1": "$.subject"}, "input_template": template}
        )
    except TransformSpecError as exc:
        assert str(exc).startswith("input_template")
        return
    try:
        out = t.apply(event, rule_name="r")
    except TransformError as exc:  # only what EventBridge refuses to deliver
        assert "placed in quotes" in str(exc)
        return
    if t.content_type == "application/json":
        orjson.loads(out)  # raises when the output is not JSON
    else:
        assert t.content_type == "text/plain"


@settings(max_examples=100, deadline=None)
@given(
    value=st.one_of(
        st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1),
        st.integers(min_value=2**64),
        st.integers(max_value=-(2**63) - 1),
    ),
    template=st.sampled_from(['{"v": <v>}', '"text <v>"', '[<v>, "<v>"]']),
)
def test_values_json_cannot_hold_raise_a_transform_error_naming_the_rule(
    value: Any, template: str
) -> None:
    t = compile_transform({"input_paths": {"v": "$.data.v"}, "input_template": template})
    with pytest.raises(TransformError, match="'alarms'"):
        t.apply({"data": {"v": value}}, rule_name="alarms")
