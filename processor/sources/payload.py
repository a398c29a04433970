"""Broker payloads to CloudEvents: the mapping every message source shares.

Message brokers carry bytes, sometimes with a content type (AMQP ``content_type``, MQTT 5
``Content-Type``, a NATS header). The rules, so that the same bytes read the same whichever
broker brought them:

* a payload that is itself a structured CloudEvent (``application/cloudevents+json``) is taken
  as that event (invalid: dead letter);
* a declared JSON content type whose body is not JSON is malformed (dead letter);
* otherwise JSON when the bytes parse (``application/json``), else the raw bytes, which the
  JSON form shows as ``data_base64``, typed as declared or ``application/octet-stream``;
* bigger than ``max_bytes`` (the bus's 256 KiB event limit by default) is malformed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from processor.errors import InvalidEventError
from processor.events import CloudEvent
from processor.events.content import is_json_type

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
STRUCTURED = "application/cloudevents+json"
DEFAULT_MAX_BYTES = 256 * 1024


def payload_event(
    payload: bytes,
    *,
    source: str,
    type: str,
    subject: str | None = None,
    id: str | None = None,
    time: datetime | None = None,
    content_type: str | None = None,
    extensions: Mapping[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> CloudEvent:
    """The CloudEvent for one broker message; raises InvalidEventError when malformed.

    ``id`` should be the broker's stable message id when there is one, so that a redelivery
    after a crash carries the same id and downstream deduplication (upserts by id) works.
    """
    if len(payload) > max_bytes:
        raise InvalidEventError(
            f"payload of {len(payload)} bytes exceeds the {max_bytes}-byte event limit",
            code="too-large",
        )
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == STRUCTURED:
        return _structured(payload)
    data: Any
    if content_type is None or is_json_type(content_type):
        try:
            data = orjson.loads(payload) if payload else None
            datacontenttype = content_type or JSON
        except orjson.JSONDecodeError as exc:
            if content_type is not None:
                raise InvalidEventError(
                    f"payload is not valid JSON although its content type is "
                    f"{content_type!r}: {exc}"
                ) from None
            data, datacontenttype = bytes(payload), OCTET_STREAM
    else:
        data, datacontenttype = bytes(payload), content_type
    return CloudEvent(
        id=id or str(uuid.uuid4()),
        source=source,
        type=type,
        subject=subject,
        time=time or datetime.now(UTC),
        datacontenttype=datacontenttype,
        data=data,
        extensions=dict(extensions or {}),
    )


def _structured(payload: bytes) -> CloudEvent:
    try:
        form = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidEventError(f"structured CloudEvent is not valid JSON: {exc}") from None
    return CloudEvent.from_json_dict(form)
