"""The CloudEvents Avro event format (``application/cloudevents+avro``) with fastavro.

The schema is ``schemas/cloudevent.avsc``, the one the CloudEvents Avro format spec defines,
written schemaless (no container header, as the Kafka structured mode carries one event per
record). The spec's JSON-value union cannot hold every JSON document (below the top level,
arrays and objects-in-objects may only hold objects; a top-level object cannot hold an
array), so data that does not fit is
written as UTF-8 JSON bytes and ``datacontenttype`` is set to ``application/json`` when it was
absent (the two mean the same in CloudEvents). Avro has one number type here (``double``):
integral doubles within 2**53 read back as ``int``.
"""

from __future__ import annotations

import functools
import io
import json
from typing import Any

import fastavro

from processor.errors import FatalError, InvalidEventError
from processor.events import deepjson
from processor.events.content import JSON_CONTENT_TYPE, is_json_type, parse_data
from processor.resources import schema_file

SCHEMA_PATH = schema_file("cloudevent.avsc")
_RECORD = "io.cloudevents.CloudEventData"
_MAX_EXACT = 2**53


@functools.cache
def schema() -> Any:
    """The parsed CloudEvent Avro schema (read once, on first use)."""
    try:
        with SCHEMA_PATH.open("rb") as handle:
            return fastavro.parse_schema(json.load(handle))
    except FileNotFoundError:
        raise FatalError(
            f"the CloudEvents Avro schema is missing ({SCHEMA_PATH}): Avro needs the "
            "schemas/ folder of the kbridge source tree next to the processor package"
        ) from None


class _Unrepresentable(Exception):
    """The JSON value has no branch in the spec's data union."""


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    raise _Unrepresentable


def _record(value: Any) -> dict[str, Any]:
    """A JSON object as a ``CloudEventData`` record."""
    if not isinstance(value, dict):
        raise _Unrepresentable
    return {"value": {str(k): _inner(v) for k, v in value.items()}}


def _inner(value: Any) -> Any:
    """A value inside ``CloudEventData.value``: scalar, map of records or array of records."""
    if isinstance(value, dict):
        return {str(k): _record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_record(v) for v in value]
    return _scalar(value)


def _top_map_value(value: Any) -> Any:
    if isinstance(value, dict):
        return (_RECORD, _record(value))
    return _scalar(value)


def _to_avro_data(data: Any) -> Any:
    if isinstance(data, dict):
        return {str(k): _top_map_value(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_record(v) for v in data]
    return _scalar(data)


def _number(value: float) -> float | int:
    if value.is_integer() and abs(value) <= _MAX_EXACT:
        return int(value)
    return value


def encode_avro(attributes: dict[str, Any], data: Any) -> bytes:
    """Serialize attributes and data to one schemaless Avro ``CloudEvent`` record."""
    attribute_map = dict(attributes)
    if data is None or isinstance(data, bytes | bytearray):
        return _write(attribute_map, None if data is None else bytes(data))
    try:
        return _write(attribute_map, _to_avro_data(data))
    except (_Unrepresentable, RecursionError):  # RecursionError: nested deeper than the stack
        if attribute_map.get("datacontenttype") is None:
            attribute_map["datacontenttype"] = JSON_CONTENT_TYPE
        return _write(attribute_map, deepjson.dumps(data))


def _write(attribute_map: dict[str, Any], avro_data: Any) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema(), {"attribute": attribute_map, "data": avro_data})
    return buffer.getvalue()


def decode_avro(value: bytes) -> tuple[dict[str, Any], Any]:
    """Read one schemaless Avro ``CloudEvent`` record into (attributes, data)."""
    try:
        record = fastavro.schemaless_reader(
            io.BytesIO(value), schema(), schema(), return_record_name=True
        )
    except Exception as exc:  # fastavro raises many types on truncated or foreign bytes
        raise InvalidEventError(
            f"value is not an Avro CloudEvent record (schemas/cloudevent.avsc): {exc!r}"
        ) from None
    if not isinstance(record, dict):
        raise InvalidEventError("value is not an Avro CloudEvent record")
    attributes: dict[str, Any] = dict(record["attribute"])
    for name, attribute in attributes.items():
        if isinstance(attribute, bytes):
            raise InvalidEventError(
                f"attribute '{name}' is Avro bytes; kbridge supports string, integer and "
                "boolean attributes"
            )
    raw = record["data"]
    content_type = attributes.get("datacontenttype")
    if isinstance(raw, bytes):
        if isinstance(content_type, str) and is_json_type(content_type):
            return attributes, parse_data(raw, content_type)
        return attributes, raw
    return attributes, _decode_data(raw)


def _decode_data(raw: Any) -> Any:
    """The data union: top-level map values may be records (tuples); arrays hold records."""
    if isinstance(raw, dict):
        return {k: _from_top_map_value(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_from_record(v) for v in raw]
    if isinstance(raw, float):
        return _number(raw)
    return raw


def _from_top_map_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return _from_record(value[1])
    if isinstance(value, float):
        return _number(value)
    return value


def _from_record(record: Any) -> dict[str, Any]:
    if isinstance(record, tuple):
        record = record[1]
    return {k: _from_inner(v) for k, v in record["value"].items()}


def _from_inner(value: Any) -> Any:
    if isinstance(value, dict):  # map<CloudEventData>
        return {k: _from_record(v) for k, v in value.items()}
    if isinstance(value, list):  # array<CloudEventData>
        return [_from_record(v) for v in value]
    if isinstance(value, float):
        return _number(value)
    return value
