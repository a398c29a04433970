"""The CloudEvents HTTP binding's header rules and binary-mode reading (pure, no I/O).

HTTP protocol binding §3.1.3.2 (https://github.com/cloudevents/spec/blob/main/cloudevents/
bindings/http-protocol-binding.md#3132-http-header-values):

* receiving, a header value is first unescaped as an RFC 7230 §3.2.6 quoted-string (older
  senders quote values holding spaces), then percent-decoded once; decoded bytes that are
  not valid UTF-8 (overlong ``%C0%A0``, a stray ``%FF``, a truncated sequence) MUST be
  rejected;
* sending, space, ``"``, ``%`` and every character outside printable ASCII (U+0021-U+007E)
  MUST be percent-encoded as UTF-8 bytes (upper-case hex).

The gateway's binary mode and the HTTP sinks' binary mode both use these functions, so that
what kbridge sends is what it would accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processor.errors import InvalidEventError
from processor.events.content import is_json_type, parse_data
from processor.events.model import CloudEvent

HEADER_PREFIX = "ce-"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
_HEX = frozenset(b"0123456789abcdefABCDEF")
# Printable ASCII except '"' and '%': everything else is encoded (space included).
_KEEP = frozenset(range(0x21, 0x7F)) - {ord('"'), ord("%")}
_ENCODED = tuple(chr(b) if b in _KEEP else f"%{b:02X}" for b in range(256))


def encode_header_value(value: str) -> str:
    """Percent-encode an attribute's canonical string for an HTTP header (§3.1.3.2)."""
    if value.isascii() and all(ord(c) in _KEEP for c in value):
        return value
    return "".join(_ENCODED[b] for b in value.encode("utf-8"))


def _unquote_quoted_strings(name: str, raw: bytes) -> bytes:
    """RFC 7230 §3.2.6: drop the quotes of quoted-strings and resolve their ``\\`` escapes."""
    if b'"' not in raw:
        return raw
    out = bytearray()
    quoted = False
    index = 0
    while index < len(raw):
        byte = raw[index]
        if byte == 0x22:  # '"'
            quoted = not quoted
        elif quoted and byte == 0x5C:  # '\\' escapes the next byte inside quotes
            index += 1
            if index == len(raw):
                break
            out.append(raw[index])
        else:
            out.append(byte)
        index += 1
    if quoted:
        raise InvalidEventError(f"header '{name}' has an unterminated quoted-string")
    return bytes(out)


def _percent_decode(name: str, raw: bytes) -> bytes:
    if b"%" not in raw:
        return raw
    out = bytearray()
    index = 0
    while index < len(raw):
        byte = raw[index]
        if byte == 0x25:  # '%'
            pair = raw[index + 1 : index + 3]
            if len(pair) != 2 or not all(b in _HEX for b in pair):
                raise InvalidEventError(
                    f"header '{name}' has a malformed percent-encoding at offset {index}: "
                    "'%' must be followed by two hex digits (a literal '%' is sent as '%25')"
                )
            out.append(int(pair, 16))
            index += 3
        else:
            out.append(byte)
            index += 1
    return bytes(out)


def decode_header_value(name: str, value: str) -> str:
    """A received ``ce-*`` header value as the attribute's text (§3.1.3.2).

    ``value`` is what the HTTP server handed over (ASGI servers decode header bytes as
    latin-1, so ``value.encode("latin-1")`` gives the bytes on the wire back). Raises
    InvalidEventError naming the header when the decoded bytes are not UTF-8.
    """
    if value.isascii() and '"' not in value and "%" not in value:
        return value
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:  # a server that already decoded UTF-8
        raw = value.encode("utf-8")
    decoded = _percent_decode(name, _unquote_quoted_strings(name, raw))
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEventError(
            f"header '{name}' is not valid UTF-8 once percent-decoded (byte "
            f"0x{decoded[exc.start]:02X} at offset {exc.start}); CloudEvents requires "
            "invalid sequences such as %C0%A0 or %FF to be rejected"
        ) from None


def binary_event(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """Read a binary-mode HTTP request (``ce-*`` headers, body = data).

    JSON data keeps the body's bytes (:meth:`CloudEvent.keep_json_bytes`), so the Kafka
    record carries what the producer sent; a ``null`` body is an explicit null payload.
    """
    attributes: dict[str, Any] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(HEADER_PREFIX):
            attributes[lowered[len(HEADER_PREFIX) :]] = decode_header_value(lowered, value)
    if "specversion" not in attributes:
        raise InvalidEventError(
            "not a CloudEvent: no 'ce-specversion' header (binary mode) and Content-Type is "
            f"not {STRUCTURED} or {BATCH}"
        )
    content_type = headers.get("content-type") or None
    if content_type:
        attributes["datacontenttype"] = content_type
    data = parse_data(body, content_type)
    if isinstance(data, bytes):
        event = CloudEvent.from_json_dict(attributes)
        return event.model_copy(update={"data": data})
    form = dict(attributes)
    if data is not None:
        form["data"] = data
    event = CloudEvent.from_json_dict(form)
    if data is None and body:
        return event.mark_json_null()
    # The body is JSON text when the type says so, or (untyped) when it parsed as a
    # non-string JSON value; an untyped string may have been plain text instead.
    declared_json = content_type is not None and is_json_type(content_type)
    if data is not None and (declared_json or not isinstance(data, str)):
        return event.keep_json_bytes(body)
    return event
