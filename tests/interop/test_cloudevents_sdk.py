"""Interop with the official CloudEvents Python SDK's Kafka binding, both ways, both modes.

Records built by ``cloudevents.core.bindings.kafka`` (SDK 2.x) and by the legacy
``cloudevents.v1.kafka`` API decode with kbridge; kbridge's records decode with the SDK.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.bindings import kafka as sdk_kafka
from cloudevents.core.v1.event import CloudEvent as SdkEvent
from cloudevents.v1 import kafka as sdk_v1_kafka
from cloudevents.v1.http import CloudEvent as SdkV1Event

from processor.events import CloudEvent, decode, encode
from processor.events.kafka import Mode

ATTRIBUTES: dict[str, Any] = {
    "id": "A234-1234-1234",
    "source": "https://github.com/cloudevents/spec/pull",
    "type": "com.github.pull_request.opened",
    "subject": "123",
    "time": datetime(2018, 4, 5, 17, 31, tzinfo=UTC),
    "datacontenttype": "application/json",
    "comexampleextension1": "value",
    "partitionkey": "pull-123",
}
DATA = {"action": "opened", "number": 123, "labels": [{"name": "bug"}]}


def sdk_event() -> SdkEvent:
    return SdkEvent(attributes=dict(ATTRIBUTES), data=dict(DATA))


def to_headers(message_headers: dict[str, bytes]) -> list[tuple[str, bytes]]:
    return list(message_headers.items())


def check_kbridge_event(event: CloudEvent, extensions: dict[str, Any] | None = None) -> None:
    assert event.id == "A234-1234-1234"
    assert event.source == "https://github.com/cloudevents/spec/pull"
    assert event.type == "com.github.pull_request.opened"
    assert event.subject == "123"
    assert event.time is not None
    assert datetime.fromisoformat(event.time.replace("Z", "+00:00")) == ATTRIBUTES["time"]
    assert event.datacontenttype == "application/json"
    expected = {"comexampleextension1": "value", "partitionkey": "pull-123"}
    assert event.extensions == (expected if extensions is None else extensions)
    assert event.data == DATA


@pytest.mark.parametrize(
    "to_sdk_message", [sdk_kafka.to_binary_event, sdk_kafka.to_structured_event]
)
def test_sdk_records_decode_with_kbridge(to_sdk_message: Any) -> None:
    message = to_sdk_message(sdk_event())
    assert message.key == "pull-123"
    check_kbridge_event(decode(message.value, to_headers(message.headers)))


def test_legacy_sdk_binary_records_decode_with_kbridge() -> None:
    """The legacy API moves ``partitionkey`` into the record key and drops it from headers.

    (Its structured mode labels records ``application/json`` instead of
    ``application/cloudevents+json``, against the Kafka binding; kbridge does not guess.)
    """
    attributes = {**ATTRIBUTES, "time": "2018-04-05T17:31:00Z"}
    message = sdk_v1_kafka.to_binary(SdkV1Event(attributes, dict(DATA)))
    assert message.key == "pull-123"
    event = decode(message.value, to_headers(message.headers))
    check_kbridge_event(event, {"comexampleextension1": "value"})


def kbridge_event() -> CloudEvent:
    return CloudEvent(
        id="A234-1234-1234",
        source="https://github.com/cloudevents/spec/pull",
        type="com.github.pull_request.opened",
        subject="123",
        time="2018-04-05T17:31:00Z",
        datacontenttype="application/json",
        data=DATA,
        extensions={"comexampleextension1": "value", "partitionkey": "pull-123"},
    )


@pytest.mark.parametrize(
    ("mode", "from_sdk_message"),
    [("binary", sdk_kafka.from_binary_event), ("structured", sdk_kafka.from_structured_event)],
)
def test_kbridge_records_decode_with_sdk(mode: Mode, from_sdk_message: Any) -> None:
    record = encode(kbridge_event(), mode)
    assert record.value is not None
    message = sdk_kafka.KafkaMessage(
        headers=dict(record.headers), key=record.key, value=record.value
    )
    event = from_sdk_message(message)
    assert event.get_id() == "A234-1234-1234"
    assert event.get_source() == "https://github.com/cloudevents/spec/pull"
    assert event.get_type() == "com.github.pull_request.opened"
    assert event.get_subject() == "123"
    assert event.get_time() == ATTRIBUTES["time"]
    assert event.get_extension("comexampleextension1") == "value"
    assert event.get_extension("partitionkey") == "pull-123"
    assert event.get_data() == DATA
    assert sdk_kafka.from_kafka_event(message).get_id() == "A234-1234-1234"


@pytest.mark.parametrize(
    ("mode", "from_sdk_message"),
    [("binary", sdk_v1_kafka.from_binary), ("structured", sdk_v1_kafka.from_structured)],
)
def test_kbridge_records_decode_with_legacy_sdk(mode: Mode, from_sdk_message: Any) -> None:
    record = encode(kbridge_event(), mode)
    message = sdk_v1_kafka.KafkaMessage(dict(record.headers), record.key, record.value or b"")
    event = from_sdk_message(message)
    assert event["id"] == "A234-1234-1234"
    assert event["type"] == "com.github.pull_request.opened"
    assert event["comexampleextension1"] == "value"
    assert event.get_data() == DATA


def test_binary_data_both_ways() -> None:
    raw = b"\x00\x01\xfe\xff"
    ours = CloudEvent(
        id="b1", source="/bin", type="blob", datacontenttype="application/octet-stream", data=raw
    )
    for mode in ("binary", "structured"):
        record = encode(ours, mode)  # type: ignore[arg-type]
        message = sdk_kafka.KafkaMessage(
            headers=dict(record.headers), key=record.key, value=record.value or b""
        )
        assert sdk_kafka.from_kafka_event(message).get_data() == raw
    theirs = SdkEvent(
        attributes={
            "id": "b2",
            "source": "/bin",
            "type": "blob",
            "datacontenttype": "application/octet-stream",
        },
        data=raw,
    )
    for to_sdk_message in (sdk_kafka.to_binary_event, sdk_kafka.to_structured_event):
        message = to_sdk_message(theirs)
        assert decode(message.value, to_headers(message.headers)).data == raw
