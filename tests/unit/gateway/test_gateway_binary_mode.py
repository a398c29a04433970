"""The binary-mode shortcut (processor/gateway/binary_mode.py) writes exactly the record the
model path writes: ``encode(binary_event(headers, body))``, same checks, same errors.

Header rules: CloudEvents HTTP binding §3.1.3.2
(https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/http-protocol-binding.md#3132-http-header-values);
Kafka binary mode: Kafka protocol binding §3.2
(https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/kafka-protocol-binding.md#32-binary-content-mode).
"""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from processor.errors import InvalidEventError
from processor.events import encode
from processor.events.http import binary_event
from processor.gateway.binary_mode import binary_record

BASE = [
    (b"host", b"127.0.0.1"),
    (b"content-type", b"application/json"),
    (b"ce-specversion", b"1.0"),
    (b"ce-id", b"evt-1"),
    (b"ce-source", b"/orders"),
    (b"ce-type", b"order.created"),
]
BODY = b'{ "n": 1,  "x": [1, 2.50] }'


def model_path(headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[object, ...]:
    event = binary_event(Headers(raw=headers), body)
    record = encode(event)
    return event.id, record.key, record.value, record.headers


@pytest.mark.parametrize(
    "extra",
    [
        [],
        [(b"ce-subject", b"order 7")],
        [(b"ce-partitionkey", b"customer-9"), (b"ce-subject", b"s")],
        [(b"ce-time", b"2024-05-01T10:00:00.123Z"), (b"ce-dataschema", b"https://x.test/s")],
        [(b"ce-myext", b"a%20b%C3%A9"), (b"ce-other", b'"quoted value"')],
        [(b"ce-traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
        [(b"Ce-Zext", b"upper-case header name")],
        [(b"ce-datacontenttype", b"text/plain")],  # Content-Type wins (§3.1.1)
        [(b"content-type", b"text/plain")],  # the first Content-Type counts
    ],
)
def test_same_record_as_the_model_path(extra: list[tuple[bytes, bytes]]) -> None:
    headers = BASE + extra
    assert binary_record(headers, BODY) == model_path(headers, BODY)


def test_content_type_parameters_are_kept() -> None:
    headers = [(b"content-type", b"application/cloudevents-data+json; charset=utf-8")]
    headers += BASE[2:]
    record = binary_record(headers, BODY)
    assert record is not None
    assert record == model_path(headers, BODY)
    assert record[2] == BODY  # the producer's bytes, unchanged


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ([h for h in BASE if h[0] != b"content-type"], BODY),  # untyped: JSON or text
        ([(b"content-type", b"text/plain"), *BASE[2:]], b"hello"),
        ([(b"content-type", b"application/octet-stream"), *BASE[2:]], b"\x00\x01"),
        (BASE, b""),  # no data
        (BASE, b"null"),  # an explicit JSON null payload
        ([*BASE, (b"ce-data_base64", b"AAA=")], BODY),
        ([h for h in BASE if h[0] != b"ce-specversion"], BODY),  # the model path's message
    ],
)
def test_other_shapes_take_the_model_path(headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    assert binary_record(headers, body) is None


@pytest.mark.parametrize(
    ("extra", "body"),
    [
        ([(b"ce-id", b"")], BODY),  # empty id
        ([(b"ce-subject", b"")], BODY),
        ([(b"ce-source", b"not a uri\x7f")], BODY),
        ([(b"ce-time", b"yesterday")], BODY),
        ([(b"ce-specversion", b"0.3")], BODY),
        ([(b"ce-bad_name", b"x")], BODY),  # extension names are [a-z0-9]
        ([(b"ce-ext", b"%C0%A0")], BODY),  # overlong UTF-8 must be rejected
        ([], b"{not json"),
    ],
)
def test_same_errors_as_the_model_path(extra: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = BASE + extra
    with pytest.raises(InvalidEventError) as expected:
        model_path(headers, body)
    with pytest.raises(InvalidEventError) as got:
        binary_record(headers, body)
    assert got.value.message == expected.value.message
