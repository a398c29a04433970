"""How configuration objects are stored in the compacted ``kbridge.rules`` topic.

One record per object: key ``<kind>/<name>`` (``rule/survey-responses``), value the
object's JSON; a tombstone (``None`` value) deletes it. Secrets are written in plain text
because this topic *is* the configuration store that sinks read their credentials from:
restrict it with Kafka ACLs (read: kbridge service principals only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, get_args

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from processor.config._base import plaintext
from processor.config.buses import Bus
from processor.config.connections import Connection
from processor.config.model import KINDS, SECTIONS, ConfigObject, ObjectKind
from processor.config.problems import (
    ConfigValidationError,
    problems_from_validation_error,
)
from processor.config.rules import Rule
from processor.config.sources import AnySource, Source
from processor.config.targets import AnyTarget, Target

_ADAPTERS: dict[ObjectKind, TypeAdapter[Any]] = {
    "bus": TypeAdapter(Bus),
    "connection": TypeAdapter(Connection),
    "target": TypeAdapter(Target),
    "source": TypeAdapter(Source),
    "rule": TypeAdapter(Rule),
}
_TARGET_CLASSES: tuple[type, ...] = get_args(AnyTarget)
_SOURCE_CLASSES: tuple[type, ...] = get_args(AnySource)


def object_key(kind: ObjectKind, name: str) -> str:
    """The record key of an object: ``<kind>/<name>``."""
    return f"{kind}/{name}"


def parse_key(key: bytes | str | None) -> tuple[ObjectKind, str]:
    """``(kind, name)`` from a record key; ``ValueError`` when it is not one of ours."""
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    if not text or "/" not in text:
        raise ValueError(f"record key {text!r} is not <kind>/<name>")
    kind, _, name = text.partition("/")
    for known in KINDS:
        if kind == known and name:
            return known, name
    raise ValueError(f"record key {text!r}: unknown kind {kind!r}")


def kind_of(obj: ConfigObject) -> ObjectKind:
    """The kind of a configuration object (``bus``, ``rule``, ...)."""
    if isinstance(obj, Bus):
        return "bus"
    if isinstance(obj, Rule):
        return "rule"
    if isinstance(obj, _TARGET_CLASSES):
        return "target"
    if isinstance(obj, _SOURCE_CLASSES):
        return "source"
    return "connection"


def encode_object(obj: ConfigObject) -> bytes:
    """The record value of ``obj``: its JSON with secrets in plain text (see module doc)."""
    data = to_jsonable_python(plaintext(obj.model_dump(mode="python")))
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def decode_object(kind: ObjectKind, value: bytes | str) -> ConfigObject:
    """Validate a record value back into its model; raises ``ValueError`` (incl. pydantic's)."""
    obj: ConfigObject = _ADAPTERS[kind].validate_json(value)
    return obj


def parse_object(kind: ObjectKind, data: Mapping[str, Any], *, origin: str = "api") -> ConfigObject:
    """Validate one object given as a mapping (the management API's request bodies).

    Raises :class:`ConfigValidationError` whose lines read
    ``<origin>: rules[<name>].<field>: <message>``.
    """
    section = SECTIONS[kind]
    try:
        obj: ConfigObject = _ADAPTERS[kind].validate_python(data)
    except ValidationError as exc:
        raw = {section: [dict(data)]}
        problems = problems_from_validation_error(exc, raw, prefix=(section, 0))
        raise ConfigValidationError(origin, problems) from None
    return obj
