"""Input templates with EventBridge InputTransformer semantics.

``input_paths`` names values selected from the event by JSONPath; ``input_template`` places
them with ``<name>`` placeholders. Reserved variables need no path:

===============================  ============================================================
``kbridge.rule-name``            the matched rule's name
``kbridge.rule-arn``             ``arn:kbridge:events:<region>:<account>:rule/<bus>/<rule>``
``kbridge.event.ingestion-time`` when the bus received the event (ISO 8601)
``kbridge.event``                the event without ``data``/``detail`` (JSON values only)
``kbridge.event.json``           the whole event (JSON value positions only)
===============================  ============================================================

The ``aws.events.*`` spellings of the same variables are accepted, so AWS rules carry over
unchanged. Where a placeholder stands decides how it is filled, as EventBridge does it (the
AWS user guide's "Common issues with transforming input", and answers recorded against AWS
in LocalStack's ``tests/aws/services/events/test_events_inputs.snapshot.json``): a path the
event lacks yields ``""`` in a JSON value position and an empty string in text; an object or
array inside a longer string is written in EventBridge's unquoted form (``{k:v,n:[1,2]}``);
an object or array quoted as a whole string value (``"<x>"``) is not delivered by
EventBridge, so it fails the event here too (dead letter, with the reason). Everything that
can be checked without an event (names, paths, placeholders, JSON structure, limits) is
checked at compile time, so a bad template is a config error, never a dead-lettered event.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

from processor.events import deepjson
from processor.events.deepjson import deep_aws_text
from processor.transform.base import JSON, TEXT, Transform, json_default
from processor.transform.errors import TransformError, TransformSpecError
from processor.transform.jsonpath import MISSING, InvalidPathError, JsonPath, compile_path
from processor.transform.template_syntax import Hole, Mode, parse_template

MAX_VARIABLES: Final = 100
MAX_VARIABLE_NAME_LENGTH: Final = 256
"""AWS's limit on an InputPathsMap key (API reference: InputTransformer.InputPathsMap)."""
MAX_TEMPLATE_LENGTH: Final = 8192
ARN_REGION: Final = "local"
ARN_ACCOUNT: Final = "000000000000"
"""The region and account fields of kbridge's rule ARNs: one kbridge deployment is one
"region" of one "account"; AWS-style tools that split ARNs find every field in place."""
_VARIABLE_NAME: Final = re.compile(r"[A-Za-z0-9_\-]+")
_RESERVED_PREFIXES: Final = ("kbridge.", "aws.events.")


class _Source(enum.Enum):
    PATH = "path"
    RULE_NAME = "rule-name"
    RULE_ARN = "rule-arn"
    INGESTION_TIME = "event.ingestion-time"
    EVENT = "event"
    EVENT_JSON = "event.json"


_RESERVED: Final = {
    prefix + source.value: source
    for prefix in _RESERVED_PREFIXES
    for source in _Source
    if source is not _Source.PATH
}
_EVENT_ONLY_AS_VALUE: Final = (_Source.EVENT, _Source.EVENT_JSON)
# AWS: <aws.events.event> is "the original event payload as JSON (without the detail field)";
# kbridge's payload fields are the CloudEvent's data (and data_base64) and its AWS alias.
_EVENT_ATTRIBUTES_EXCLUDED: Final = frozenset({"data", "data_base64", "detail"})


def rule_arn(rule_name: str, bus_name: str | None) -> str:
    """The ARN kbridge gives a rule: AWS's shape ``arn:<partition>:events:<region>:<account>:
    rule/<bus>/<rule>`` with partition ``kbridge`` (``rule/<rule>`` when the bus is unknown)."""
    resource = f"rule/{bus_name}/{rule_name}" if bus_name else f"rule/{rule_name}"
    return f"arn:kbridge:events:{ARN_REGION}:{ARN_ACCOUNT}:{resource}"


def _now_iso8601() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# The renderers call orjson directly (not base.dumps) because they run once per hole per
# event; base.dumps documents the encoding contract they share.


class _QuotedContainer(Exception):
    """Internal: an object or array stands quoted as a whole JSON string ("<x>")."""


def _as_json_value(value: Any) -> str:
    if value is MISSING:
        return '""'
    return deepjson.dumps(value, default=json_default).decode()


def _as_quoted_value(value: Any) -> str:
    if isinstance(value, Mapping | list | tuple):
        raise _QuotedContainer
    return _as_json_value(value)


def aws_text(value: Any) -> str:
    """A value as EventBridge writes it into a string: strings as they are, objects and
    arrays without the quotes of their strings (``{acc_id:0a787ecb-4015,sf_id:baz}``,
    ``[HIGH]``), other scalars as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        try:
            return _aws_text_nested(value)
        except RecursionError:  # nested deeper than the stack (AWS allows 1000 levels)
            return deep_aws_text(value)
    return orjson.dumps(value, default=json_default).decode()


def _aws_text_nested(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{aws_text(v)}" for k, v in value.items()) + "}"
    return "[" + ",".join(aws_text(v) for v in value) + "]"


def _as_text_in_json_string(value: Any) -> str:
    if value is MISSING:
        return ""
    return orjson.dumps(aws_text(value)).decode()[1:-1]


def _as_text(value: Any) -> str:
    if value is MISSING:
        return ""
    return aws_text(value)


_RENDERERS: Final[dict[Mode, Callable[[Any], str]]] = {
    Mode.VALUE: _as_json_value,
    Mode.QUOTED: _as_quoted_value,
    Mode.IN_STRING: _as_text_in_json_string,
    Mode.TEXT: _as_text,
}


def _compile_paths(input_paths: object) -> dict[str, JsonPath]:
    if input_paths is None:
        return {}
    if not isinstance(input_paths, Mapping):
        raise TransformSpecError(
            f"input_paths must be a mapping of variable name to JSONPath, "
            f"got {type(input_paths).__name__}"
        )
    if len(input_paths) > MAX_VARIABLES:
        raise TransformSpecError(
            f"input_paths defines {len(input_paths)} variables; the limit is {MAX_VARIABLES}"
        )
    compiled: dict[str, JsonPath] = {}
    for name, path in input_paths.items():
        if not isinstance(name, str):
            raise TransformSpecError(f"input_paths variable name {name!r} must be a string")
        if name.startswith(_RESERVED_PREFIXES):
            raise TransformSpecError(f"input_paths variable {name} is a reserved name")
        if len(name) > MAX_VARIABLE_NAME_LENGTH:
            raise TransformSpecError(
                f"input_paths variable name {name[:40]}... is {len(name)} characters long; "
                f"the limit is {MAX_VARIABLE_NAME_LENGTH}"
            )
        if _VARIABLE_NAME.fullmatch(name) is None:
            raise TransformSpecError(
                f"input_paths variable name {name!r} may only hold letters, digits, '_' and '-'"
            )
        try:
            compiled[name] = compile_path(path)
        except InvalidPathError as exc:
            raise TransformSpecError(f"input_paths.{name}: JSONPath {path!r} {exc}") from None
    return compiled


class TemplateTransform(Transform):
    """A compiled input template: literal pieces, holes, and one source per variable."""

    kind = "template"

    def __init__(self, input_paths: object, input_template: object) -> None:
        if not isinstance(input_template, str):
            raise TransformSpecError(
                f"input_template must be a string, got {type(input_template).__name__}"
            )
        if not input_template:
            raise TransformSpecError("input_template must not be empty")
        if len(input_template) > MAX_TEMPLATE_LENGTH:
            raise TransformSpecError(
                f"input_template is {len(input_template)} characters long; "
                f"the limit is {MAX_TEMPLATE_LENGTH}"
            )
        paths = _compile_paths(input_paths)
        parsed = parse_template(input_template)
        self.template = input_template
        self.content_type = JSON if parsed.is_json else TEXT

        # Path variables take the first slots so that one list comprehension selects them
        # all; reserved variables follow and are computed only when the template uses them.
        names = list(dict.fromkeys(hole.name for hole in parsed.holes))
        sources = {name: self._source_of(name, paths) for name in names}
        for hole in parsed.holes:
            self._check_position(hole, sources[hole.name][0])
        names.sort(key=lambda name: sources[name][0] is not _Source.PATH)
        slots = {name: slot for slot, name in enumerate(names)}
        selected = [(name, *sources[name]) for name in names]
        self._selects = [path.select for _, _, path in selected if path is not None]
        self._reserved = [source for _, source, path in selected if path is None]

        self._parts: list[str] = []
        self._holes: list[tuple[int, int, Callable[[Any], str], str]] = []
        for part in parsed.parts:
            if isinstance(part, str):
                self._parts.append(part)
            else:
                self._holes.append(
                    (len(self._parts), slots[part.name], _RENDERERS[part.mode], part.name)
                )
                self._parts.append("")

    @staticmethod
    def _source_of(name: str, paths: Mapping[str, JsonPath]) -> tuple[_Source, JsonPath | None]:
        if name in paths:
            return _Source.PATH, paths[name]
        if name in _RESERVED:
            return _RESERVED[name], None
        raise TransformSpecError(f"input_template contains invalid placeholder {name}")

    @staticmethod
    def _check_position(hole: Hole, source: _Source) -> None:
        if source in _EVENT_ONLY_AS_VALUE and hole.mode is Mode.QUOTED:
            raise TransformSpecError(
                f'input_template must not quote <{hole.name}> ("<{hole.name}>"): it is the '
                f"event as JSON, write <{hole.name}> without quotes"
            )
        if source in _EVENT_ONLY_AS_VALUE and hole.mode is not Mode.VALUE:
            raise TransformSpecError(
                f"input_template may use <{hole.name}> only as a value in a JSON template "
                "(it is the event as JSON, not text)"
            )

    def _values(
        self,
        event: Mapping[str, Any],
        rule_name: str,
        ingestion_time: str | None,
        bus_name: str | None,
    ) -> list[Any]:
        values = [select(event) for select in self._selects]
        for source in self._reserved:
            if source is _Source.RULE_NAME:
                values.append(rule_name)
            elif source is _Source.RULE_ARN:
                values.append(rule_arn(rule_name, bus_name))
            elif source is _Source.INGESTION_TIME:
                values.append(ingestion_time if ingestion_time is not None else _now_iso8601())
            elif source is _Source.EVENT_JSON:
                values.append(event)
            else:
                values.append(
                    {k: v for k, v in event.items() if k not in _EVENT_ATTRIBUTES_EXCLUDED}
                )
        return values

    def apply(
        self,
        event: Mapping[str, Any],
        *,
        rule_name: str,
        ingestion_time: str | None = None,
        bus_name: str | None = None,
    ) -> str:
        values = self._values(event, rule_name, ingestion_time, bus_name) if self._holes else []
        out = self._parts.copy()
        name = ""
        try:
            for position, slot, render, name in self._holes:  # noqa: B007 (name: for errors)
                out[position] = render(values[slot])
        except _QuotedContainer:
            kind = "an object" if isinstance(values[slot], Mapping) else "an array"
            raise TransformError(
                f'variable {name} is {kind} placed in quotes ("<{name}>"), which EventBridge '
                f"does not deliver; write <{name}> without quotes to insert it as JSON",
                rule_name=rule_name,
            ) from None
        except TypeError as exc:  # orjson.JSONEncodeError: bad Unicode, huge int, depth
            raise TransformError(
                f"variable {name} cannot be rendered as JSON: {exc}", rule_name=rule_name
            ) from exc
        return "".join(out)

    def __repr__(self) -> str:
        return f"TemplateTransform({self.template!r})"
