"""Consumed egress records as the sink contract's :class:`Delivery`.

Runs once per record on the worker's poll loop, so the common case (a list of
``(str, bytes)`` headers in binary mode) takes a single comprehension; structured and Avro
egress records are rewritten into binary mode here so every sink sees one form.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Message

from processor.errors import InvalidEventError
from processor.events.kafka import decode as decode_event
from processor.events.kafka import encode as encode_event
from processor.sinks.base import Delivery

STRUCTURED_PREFIX = "application/cloudevents"


def _normalise(pairs: Any) -> list[tuple[str, bytes]]:
    """Header pairs with ``None`` or ``str`` values turned into bytes (the rare, slow path)."""
    out: list[tuple[str, bytes]] = []
    for name, header in pairs:
        if isinstance(header, str):
            header = header.encode("utf-8")
        out.append((str(name), header if header is not None else b""))
    return out


def to_delivery(message: Message) -> Delivery:
    """A consumed record as the sink contract's :class:`Delivery`."""
    found: Any = message.headers() or []
    if isinstance(found, dict):
        found = list(found.items())
    try:
        headers = {k: v.decode("utf-8", "replace") for k, v in found}
        raw: list[tuple[str, bytes]] = found
    except AttributeError:  # a None or str header value
        raw = _normalise(found)
        headers = {k: v.decode("utf-8", "replace") for k, v in raw}
    ts_type, ts_ms = message.timestamp()
    value = message.value() or b""
    original = None
    if headers.get("content-type", "").startswith(STRUCTURED_PREFIX):
        original = (value, raw)
        value, raw, headers = _as_binary(value, raw, headers)
    return Delivery(
        value=value,
        headers=headers,
        key=message.key(),
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        raw_headers=raw,
        timestamp=ts_ms / 1000.0 if ts_type != 0 and ts_ms > 0 else None,
        original=original,
    )


def _as_binary(
    value: bytes, raw: list[tuple[str, bytes]], headers: dict[str, str]
) -> tuple[bytes, list[tuple[str, bytes]], dict[str, str]]:
    """A structured (JSON or Avro) egress record rewritten into binary mode.

    Targets may choose ``format: structured|avro`` for their egress topic (for archival
    consumers); sinks always see the contract's binary form: ``ce_*`` headers and the data
    as the value. Records that are not valid CloudEvents are passed on unchanged, so the
    sink fails them with its own, specific error.
    """
    try:
        event = decode_event(value, raw)
    except InvalidEventError:
        return value, raw, headers
    record = encode_event(event, "binary")
    kept = [(k, v) for k, v in raw if not k.startswith("ce_") and k != "content-type"]
    binary = [*record.headers, *kept]
    if event.datacontenttype is None and not isinstance(event.data, bytes):
        binary.append(("content-type", b"application/json"))
    decoded = {k: v.decode("utf-8", "replace") for k, v in binary}
    return record.value or b"", binary, decoded
