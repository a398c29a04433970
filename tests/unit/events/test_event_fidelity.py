"""Issue 16 items 10-13: CloudEvents HTTP header rules and data fidelity, against the spec.

References:
* HTTP binding §3.1.3.2 "HTTP Header Values":
  https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/http-protocol-binding.md#3132-http-header-values
* JSON format §3.1.1 / §3.1.2 "Handling of data":
  https://github.com/cloudevents/spec/blob/main/cloudevents/formats/json-format.md#31-handling-of-data
"""

from __future__ import annotations

import orjson
import pytest

from processor.errors import InvalidEventError
from processor.events import CloudEvent, decode, decode_json_form, encode
from processor.events.attributes import MAX_ID_LENGTH
from processor.events.http import binary_event, decode_header_value, encode_header_value

BASE = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}


# -- item 10: quoted-string header values are unescaped (RFC 7230 §3.2.6, then %-decoding) --


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ('"Hello World"', "Hello World"),  # the example: older senders quoted spaces
        ('"say \\"hi\\""', 'say "hi"'),  # backslash escapes inside the quotes
        ('"a\\\\b"', "a\\b"),
        ('"100%25"', "100%"),  # unquoted first, then one round of percent-decoding
        ("Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro \u20ac \U0001f600"),  # §3.1.3.2's example
        ("%e2%82%ac", "\u20ac"),  # "decoding MUST accept lower-case values"
        ("%41%42", "AB"),  # "unnecessarily percent-encoded MUST be accepted"
        ("plain", "plain"),
    ],
)
def test_header_values_are_unquoted_then_percent_decoded(wire: str, expected: str) -> None:
    assert decode_header_value("ce-subject", wire) == expected


def test_binary_mode_request_unquotes_subject() -> None:
    event = binary_event({**BASE, "ce-subject": '"Hello World"'}, b"")
    assert event.subject == "Hello World"


# -- item 11: percent-decoded bytes that are not UTF-8 are rejected --------------------------


@pytest.mark.parametrize(
    "wire",
    [
        "%C0%A0",  # §3.1.3.2: "an overlong encoding of U+0020, and MUST be rejected"
        "%FF",  # never valid in UTF-8
        "abc%E2%82",  # truncated three-byte sequence
        "%ED%A0%80",  # an encoded UTF-16 surrogate
    ],
)
def test_invalid_utf8_after_percent_decoding_is_rejected(wire: str) -> None:
    with pytest.raises(InvalidEventError, match=r"ce-subject.*not valid UTF-8"):
        decode_header_value("ce-subject", wire)


@pytest.mark.parametrize("wire", ["100%", "%G1", '"unterminated'])
def test_malformed_escapes_are_rejected_naming_the_header(wire: str) -> None:
    with pytest.raises(InvalidEventError, match="ce-subject"):
        decode_header_value("ce-subject", wire)


# -- item 12: outbound values are percent-encoded as §3.1.3.2 lists ---------------------------


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        # §3.1.3.2's worked example, character for character
        ("Euro \u20ac \U0001f600", "Euro%20%E2%82%AC%20%F0%9F%98%80"),
        ('say "hi"', "say%20%22hi%22"),  # space and double-quote MUST be encoded
        ("100%", "100%25"),  # percent MUST be encoded
        ("tab\there", "tab%09here"),  # controls: RECOMMENDED to be encoded
        ("/a/b?c=d&e", "/a/b?c=d&e"),  # printable ASCII otherwise kept
    ],
)
def test_outbound_header_values_are_percent_encoded(value: str, wire: str) -> None:
    assert encode_header_value(value) == wire
    assert decode_header_value("ce-x", wire) == value  # what kbridge sends, it accepts


def test_http_sink_binding_uses_the_spec_encoding() -> None:
    from processor.sinks.base import Delivery
    from processor.sinks.http.binding import encode as http_encode

    delivery = Delivery(
        value=b"{}",
        headers={"ce_id": "1", "ce_source": "/s", "ce_type": "t", "ce_subject": "a b\u00e9"},
    )
    headers, _ = http_encode(delivery, "binary")
    assert headers["ce-subject"] == "a%20b%C3%A9"


# -- item 13: data fidelity -------------------------------------------------------------------


def test_binary_json_body_reaches_kafka_byte_for_byte() -> None:
    body = b'{ "z": 1,\n  "a": [1.0e2, "\\u00e9"] }'
    event = binary_event({**BASE, "content-type": "application/json"}, body)
    assert event.data == {"z": 1, "a": [100.0, "\u00e9"]}  # parsed, so patterns can match
    record = encode(event, "binary")
    assert record.value == body  # whitespace, key order and number spelling kept
    structured = orjson.loads(encode(event, "structured").value or b"")
    assert list(structured["data"]) == ["z", "a"]


def test_raw_bytes_are_dropped_when_data_is_replaced() -> None:
    event = binary_event({**BASE, "content-type": "application/json"}, b'{"a": 1}')
    replaced = event.model_copy(update={"data": {"b": 2}})
    assert encode(replaced, "binary").value == b'{"b":2}'


def test_explicit_null_data_is_kept_in_every_binding() -> None:
    # JSON format §3.1.1: "the data member MAY have a value of null, representing an explicit
    # null payload as distinct from the absence of the data member."
    document = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": None}
    event = CloudEvent.from_json_dict(document)
    assert event.to_json_dict()["data"] is None
    record = encode(event, "binary")
    assert record.value == b"null"
    assert dict(record.headers)["content-type"] == b"application/json"
    back = decode(record.value, record.headers)
    assert "data" in back.to_json_dict() and back.to_json_dict()["data"] is None
    assert decode_json_form(record.value, record.headers)["data"] is None
    structured = encode(event, "structured")
    assert orjson.loads(structured.value or b"")["data"] is None
    assert decode_json_form(structured.value, structured.headers)["data"] is None
    # and an event without data stays without
    absent = CloudEvent.from_json_dict({k: v for k, v in document.items() if k != "data"})
    assert "data" not in absent.to_json_dict()
    assert encode(absent, "binary").value is None


def test_http_binary_null_body_is_an_explicit_null() -> None:
    event = binary_event({**BASE, "content-type": "application/json"}, b"null")
    assert event.has_data and event.to_json_dict()["data"] is None


def test_implied_json_content_type_is_made_explicit_on_kafka() -> None:
    # JSON format §3.1.2: re-serialized in another binding, the datacontenttype "SHOULD be
    # set explicitly to the implied application/json content type" (its example D: a string).
    document = {"specversion": "1.0", "id": "D", "source": "/s", "type": "t", "data": "hi"}
    record = encode(CloudEvent.from_json_dict(document), "binary")
    assert dict(record.headers)["content-type"] == b"application/json"
    assert record.value == b'"hi"'  # quoted: a literal JSON string


# -- issue 22.6: id length is bounded at ingest -------------------------------------------------


def test_id_over_the_limit_is_refused() -> None:
    binary_event({**BASE, "ce-id": "i" * MAX_ID_LENGTH}, b"")
    with pytest.raises(InvalidEventError, match=f"at most {MAX_ID_LENGTH}"):
        binary_event({**BASE, "ce-id": "i" * 60_000}, b"")


def test_equality_ignores_the_kept_bytes_but_not_an_explicit_null() -> None:
    sent = binary_event({**BASE, "content-type": "application/json"}, b'{ "a": 1 }')
    record = encode(sent, "binary")
    assert decode(record.value, record.headers) == sent  # same event, bytes or not
    document = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}
    assert CloudEvent.from_json_dict({**document, "data": None}) != CloudEvent.from_json_dict(
        document
    )


def test_http_sink_structured_mode_embeds_the_json_payload_unchanged() -> None:
    from processor.sinks.base import Delivery
    from processor.sinks.http.binding import encode as http_encode

    payload = b'{ "z": 1, "a": [1.0e2] }'
    delivery = Delivery(
        value=payload,
        headers={
            "ce_id": "1",
            "ce_source": "/s",
            "ce_type": "t",
            "content-type": "application/json",
        },
    )
    _, body = http_encode(delivery, "structured")
    assert b'"data":' + payload in body  # not re-serialised: spacing and 1.0e2 kept
    assert orjson.loads(body)["data"] == {"z": 1, "a": [100.0]}
