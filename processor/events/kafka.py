"""The CloudEvents Kafka protocol binding: events to Kafka records and back.

* **binary** (the ingress default, so any Kafka producer can publish): attributes in
  ``ce_<name>`` headers as UTF-8 text, ``datacontenttype`` in ``content-type``, data as the
  record value;
* **structured**: the whole event in the value, ``content-type:
  application/cloudevents+json`` (the JSON format) or ``application/cloudevents+avro`` (the
  Avro format, :mod:`processor.events.avro`).

Binary data without a ``datacontenttype`` is labelled ``application/octet-stream`` in binary
mode (it reads back with that content type), so that bytes which happen to be valid text or
JSON stay bytes; JSON data without one gets the ``application/json`` the JSON format implies
(JSON format §3.1.2: re-encoded in another binding, the implied type SHOULD be explicit).
JSON data the gateway received as text (an HTTP binary-mode body, a PutEvents ``Detail``)
is written as those bytes, not re-serialised; an explicit ``null`` payload is the value
``null``, distinct from a record without a value (no data).

The record key is the event's partition key (``partitionkey`` extension, else
``subject``, else ``source``). Decoding ignores the key: it is routing, not part of the
event.

:func:`decode_json_form` is the router's hot path: it returns the structured JSON form (the
shape patterns match) without building a pydantic model, running the same attribute checks,
so ``decode_json_form(v, h) == decode(v, h).to_json_dict()`` for every record.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from processor.errors import InvalidEventError
from processor.events import attributes as attrs
from processor.events.avro import decode_avro, encode_avro
from processor.events.content import parse_data
from processor.events.model import CloudEvent, data_from_json_form

logger = logging.getLogger(__name__)

Mode = Literal["binary", "structured", "avro"]
Headers = Sequence[tuple[str, bytes | str | None]]

CE_PREFIX = "ce_"
CONTENT_TYPE_HEADER = "content-type"
STRUCTURED_JSON = "application/cloudevents+json"
STRUCTURED_AVRO = "application/cloudevents+avro"
BATCH_JSON = "application/cloudevents-batch+json"
_STRUCTURED_JSON_HEADER = (CONTENT_TYPE_HEADER, f"{STRUCTURED_JSON}; charset=utf-8".encode())
_STRUCTURED_AVRO_HEADER = (CONTENT_TYPE_HEADER, STRUCTURED_AVRO.encode())
_OCTET_STREAM_HEADER = (CONTENT_TYPE_HEADER, b"application/octet-stream")


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """What to hand to a Kafka producer (or what a consumer got): key, value, headers."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def encode(event: CloudEvent, mode: Mode = "binary") -> KafkaRecord:
    """Turn ``event`` into a Kafka record in the given content mode."""
    key = event.partition_key().encode("utf-8")
    if mode == "binary":
        headers = [
            (CE_PREFIX + name, attrs.extension_header_text(value).encode("utf-8"))
            for name, value in event.attributes().items()
            if name != "datacontenttype"
        ]
        content_type = event.effective_content_type()
        if content_type is not None:
            headers.append((CONTENT_TYPE_HEADER, content_type.encode("utf-8")))
        elif isinstance(event.data, bytes | bytearray):
            # Without a type, a reader would take bytes that happen to be text for text.
            headers.append(_OCTET_STREAM_HEADER)
        return KafkaRecord(key, event.data_bytes(), headers)
    if mode == "structured":
        form = event.to_json_dict()
        raw = event.raw_json_data()
        if raw is not None:  # the producer's bytes, embedded unchanged
            form["data"] = orjson.Fragment(raw)
        return KafkaRecord(key, orjson.dumps(form), [_STRUCTURED_JSON_HEADER])
    if mode == "avro":
        value = encode_avro(event.attributes(), event.data)
        return KafkaRecord(key, value, [_STRUCTURED_AVRO_HEADER])
    raise ValueError(f"unknown CloudEvents content mode {mode!r}")


def decode(value: bytes | None, headers: Headers | None) -> CloudEvent:
    """Read a Kafka record (any content mode) into a CloudEvent.

    Raises InvalidEventError naming what is wrong when the record is not a CloudEvent.
    """
    return CloudEvent.from_json_dict(decode_json_form(value, headers))


def decode_json_form(value: bytes | None, headers: Headers | None) -> dict[str, Any]:
    """The structured JSON form of a record, validated, without pydantic (router hot path)."""
    content_type: str | None = None
    ce_headers: dict[str, str] = {}
    for name, raw in headers or ():
        prefix = name[:3]
        if prefix == CE_PREFIX or prefix.lower() == CE_PREFIX:
            attribute = name[3:] if name[3:].islower() else name[3:].lower()
            if attribute not in ce_headers:
                if type(raw) is bytes:
                    try:
                        ce_headers[attribute] = raw.decode()
                        continue
                    except UnicodeDecodeError:
                        pass
                ce_headers[attribute] = _header_text(name, raw)
        elif content_type is None and name.lower() == CONTENT_TYPE_HEADER:
            content_type = _header_text(name, raw)
    media_type = content_type.split(";", 1)[0].strip().lower() if content_type else ""
    if media_type == STRUCTURED_JSON:
        return _structured_json_form(value)
    if media_type == STRUCTURED_AVRO:
        return _avro_json_form(value)
    if media_type == BATCH_JSON:
        raise InvalidEventError(
            f"a Kafka record holds one event; {BATCH_JSON} is only for HTTP batches"
        )
    if "specversion" not in ce_headers:
        raise InvalidEventError(
            "record is not a CloudEvent: no 'ce_specversion' header (binary mode) and "
            f"content-type is {content_type!r}, not {STRUCTURED_JSON} or {STRUCTURED_AVRO}"
        )
    if content_type is not None:
        ce_headers["datacontenttype"] = content_type
    elif isinstance(ce_headers.get("datacontenttype"), str):
        content_type = ce_headers["datacontenttype"]  # a producer that set ce_datacontenttype
    form = attrs.check_attributes(ce_headers)
    data = parse_data(value, content_type)
    if data is None and value:
        form["data"] = None  # a JSON ``null`` body: an explicit null payload
    else:
        _put_data(form, data)
    return form


def _header_text(name: str, raw: bytes | str | None) -> str:
    if raw is None:
        raise InvalidEventError(f"header '{name}' has no value")
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEventError(f"header '{name}' is not valid UTF-8") from None


def _put_data(form: dict[str, Any], data: Any) -> None:
    if isinstance(data, bytes | bytearray):
        form["data_base64"] = base64.b64encode(data).decode("ascii")
    elif data is not None:
        form["data"] = data


def _structured_json_form(value: bytes | None) -> dict[str, Any]:
    if not value:
        raise InvalidEventError(f"structured {STRUCTURED_JSON} record has an empty value")
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidEventError(f"structured CloudEvent is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidEventError(
            f"a structured CloudEvent must be a JSON object, got {type(document).__name__}"
        )
    form = attrs.check_attributes({k: v for k, v in document.items() if k not in attrs.DATA_KEYS})
    data = data_from_json_form(document)
    if data is None and "data" in document and document.get("data_base64") is None:
        form["data"] = None  # "data": null is kept (JSON format §3.1.1)
    else:
        _put_data(form, data)
    return form


def _avro_json_form(value: bytes | None) -> dict[str, Any]:
    if not value:
        raise InvalidEventError(f"structured {STRUCTURED_AVRO} record has an empty value")
    attributes, data = decode_avro(value)
    form = attrs.check_attributes(attributes)
    _put_data(form, data)
    return form
