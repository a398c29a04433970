"""compile_transform: spec validation, the whole-event, path and constant kinds, the errors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import orjson
import pydantic
import pytest

from processor.errors import ConfigError, FatalError, is_retriable
from processor.transform import Transform, TransformError, TransformSpecError, compile_transform

EVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "source": "saas.questionnaire",
    "type": "questionnaire.response.completed",
    "time": "2026-11-26T08:00:00Z",
    "subject": "survey-42",
    "partitionkey": "survey-42",
    "data": {"survey": 42, "answers": [{"q": 1, "a": "是"}, {"q": 2, "a": 'say "hi"\n'}]},
}


@pytest.mark.parametrize("spec", [None, {}])
def test_absent_or_empty_spec_is_the_whole_event_as_json(spec: Mapping[str, Any] | None) -> None:
    t = compile_transform(spec)
    out = t.apply(EVENT, rule_name="r")
    assert orjson.loads(out) == EVENT
    assert t.content_type == "application/json"
    assert t.kind == "whole"
    assert isinstance(t, Transform)


class _Event(Mapping[str, Any]):
    """A read-only mapping that is not a dict, as a CloudEvent model might expose."""

    def __init__(self, inner: dict[str, Any]) -> None:
        self._inner = inner

    def __getitem__(self, key: str) -> Any:
        return self._inner[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inner)

    def __len__(self) -> int:
        return len(self._inner)


def test_whole_event_accepts_mappings_that_are_not_dicts() -> None:
    event = _Event({**EVENT, "data": MappingProxyType(EVENT["data"])})
    assert orjson.loads(compile_transform({}).apply(event, rule_name="r")) == EVENT


def test_whole_event_that_cannot_be_json_names_the_rule() -> None:
    with pytest.raises(TransformError, match=r"'survey-db'.*not JSON serializable"):
        compile_transform(None).apply({"data": object()}, rule_name="survey-db")


def test_path_selects_part_of_the_event_as_json() -> None:
    t = compile_transform({"path": "$.data"})
    assert t.content_type == "application/json"
    assert orjson.loads(t.apply(EVENT, rule_name="r")) == EVENT["data"]
    assert t.apply(EVENT, rule_name="r").startswith('{"survey":42,')


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.subject", '"survey-42"'),
        ("$.data.survey", "42"),
        ("$.data.answers[1].a", '"say \\"hi\\"\\n"'),
        ("$.data.answers[*].q", "[1,2]"),
        ("$.data.answers[*].nope", "[]"),
    ],
)
def test_path_values_are_rendered_as_json(path: str, expected: str) -> None:
    assert compile_transform({"path": path}).apply(EVENT, rule_name="r") == expected


def test_path_that_selects_nothing_is_a_transform_error_naming_rule_and_path() -> None:
    t = compile_transform({"path": "$.data.missing"})
    with pytest.raises(TransformError, match=r"'alarms'.*\$\.data\.missing selected nothing") as e:
        t.apply(EVENT, rule_name="alarms")
    assert e.value.code == "transform-failed"
    assert e.value.rule_name == "alarms"


def test_path_value_that_cannot_be_json_is_a_transform_error() -> None:
    with pytest.raises(TransformError, match="not JSON serializable"):
        compile_transform({"path": "$.data"}).apply({"data": {"n": 2**70}}, rule_name="r")


@pytest.mark.parametrize(
    ("constant", "output", "content_type"),
    [
        ({"alert": "disk full", "level": 3}, '{"alert":"disk full","level":3}', "application/json"),
        ([1, "two", None], '[1,"two",null]', "application/json"),
        (7, "7", "application/json"),
        (True, "true", "application/json"),
        (None, "null", "application/json"),
        ("Deploy finished 🎉", "Deploy finished 🎉", "text/plain"),
        ('{"looks": "like json"}', '{"looks": "like json"}', "text/plain"),
    ],
)
def test_constant_is_rendered_once_and_json_unless_it_is_text(
    constant: Any, output: str, content_type: str
) -> None:
    t = compile_transform({"constant": constant})
    assert t.apply(EVENT, rule_name="r") == output
    assert t.apply({}, rule_name="other") == output
    assert t.content_type == content_type


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "transform must be a mapping, got list"),
        ({"paths": "$.data"}, "unknown key\\(s\\) paths"),
        ({"path": "$.data", "constant": 1}, "mixes the kinds path and constant"),
        (
            {"constant": 1, "input_template": "x"},
            "mixes the kinds constant and template",
        ),
        ({"input_paths": {"a": "$.a"}}, "input_paths but no input_template"),
        ({"path": "$.data", "input_paths": {}}, "input_paths but no input_template"),
        ({"path": "data"}, "path: JSONPath 'data' must start with"),
        ({"path": None}, "path: JSONPath None must be a string"),
        ({"constant": {1: "x"}}, "constant is not JSON serializable"),
        ({"constant": 2**70}, "constant is not JSON serializable"),
    ],
)
def test_invalid_specs_are_rejected_with_a_clear_message(spec: Any, message: str) -> None:
    with pytest.raises(TransformSpecError, match=message):
        compile_transform(spec)


def test_spec_errors_are_config_and_value_errors_transform_errors_are_fatal() -> None:
    assert issubclass(TransformSpecError, ConfigError)
    assert issubclass(TransformSpecError, ValueError)
    assert TransformSpecError("x").code == "transform-spec-invalid"
    err = TransformError("boom", rule_name="r1")
    assert isinstance(err, FatalError)
    assert not is_retriable(err)
    assert str(err) == "transform of rule 'r1' failed: boom"


def test_spec_errors_surface_as_pydantic_field_errors() -> None:
    class Target(pydantic.BaseModel):
        transform: dict[str, Any] | None = None

        @pydantic.field_validator("transform")
        @classmethod
        def _compiles(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
            compile_transform(value)
            return value

    with pytest.raises(pydantic.ValidationError, match="input_template contains invalid"):
        Target(transform={"input_template": "<nope>"})
