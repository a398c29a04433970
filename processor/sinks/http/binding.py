"""CloudEvents HTTP protocol binding, built from an egress record's Kafka headers.

The egress record already carries the event in Kafka binary mode (``ce_<attr>`` headers,
the transformed payload as the value, ``content-type``). Binary HTTP mode renames
``ce_<attr>`` to ``ce-<attr>``; structured mode folds the attributes and the data into one
``application/cloudevents+json`` document; ``raw`` sends the payload alone (for APIs that
know nothing about CloudEvents).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal

import orjson

from processor.events import deepjson
from processor.events.http import encode_header_value as _percent_encode
from processor.sinks.base import Delivery
from processor.trace import otel

BodyMode = Literal["binary", "structured", "raw"]
DEFAULT_CONTENT_TYPE = "application/json"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


def attributes(headers: Mapping[str, str]) -> dict[str, str]:
    """CloudEvents context attributes carried in ``ce_*`` Kafka headers."""
    return {k[3:]: v for k, v in headers.items() if k.startswith("ce_") and len(k) > 3}


def content_type(delivery: Delivery) -> str:
    """The payload's media type (``content-type`` header, else JSON)."""
    return (
        delivery.headers.get("content-type")
        or delivery.headers.get("ce_datacontenttype")
        or DEFAULT_CONTENT_TYPE
    )


def _is_json(media_type: str) -> bool:
    base = media_type.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json") or base == "text/json"


def encode(delivery: Delivery, mode: BodyMode) -> tuple[dict[str, str], bytes]:
    """HTTP headers and body for ``delivery`` in ``mode``.

    An event carrying a W3C ``traceparent`` (CloudEvents distributed tracing) also gets it
    as the plain ``traceparent`` header in every mode, so that the receiver's tracing
    continues the producer's trace (docs/tracing.md).
    """
    headers, body = _encode(delivery, mode)
    headers.update(otel.http_headers(delivery.headers))
    return headers, body


def _encode(delivery: Delivery, mode: BodyMode) -> tuple[dict[str, str], bytes]:
    ctype = content_type(delivery)
    if mode == "raw":
        return {"Content-Type": ctype}, delivery.value
    attrs = attributes(delivery.headers)
    attrs.setdefault("specversion", "1.0")
    if mode == "binary":
        headers = {f"ce-{name}": _percent_encode(value) for name, value in attrs.items()}
        headers["Content-Type"] = ctype
        return headers, delivery.value
    document: dict[str, Any] = dict(attrs)
    document.setdefault("datacontenttype", ctype)
    if _is_json(ctype):
        try:
            orjson.loads(delivery.value or b"null")  # checked, then embedded byte for byte
            document["data"] = orjson.Fragment(delivery.value) if delivery.value else None
        except orjson.JSONDecodeError:
            document["data"] = delivery.value.decode("utf-8", "replace")
    elif ctype.startswith("text/"):
        document["data"] = delivery.value.decode("utf-8", "replace")
    else:
        document["data_base64"] = base64.b64encode(delivery.value).decode("ascii")
    return {"Content-Type": STRUCTURED_CONTENT_TYPE}, deepjson.dumps(document)
