"""Events posted through PutEvents (REST and boto3) and the CloudEvents HTTP binding (SDK)
are read back from the ingress topic as valid CloudEvents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import httpx
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cloudevents.core.bindings import http as sdk_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent
from gateway_harness import ReadBack, serve

from processor.events import CloudEvent, decode
from processor.gateway.app import create_app
from processor.gateway.auth import AccessKey, KeyRing
from processor.kafka.topics import bus_topic
from processor.settings import Settings

pytestmark = pytest.mark.kafka


@pytest.fixture
def gateway_url(gateway_settings: Settings, gateway_bus: str) -> Iterator[str]:
    with serve(create_app(gateway_settings, known_buses=[gateway_bus, "default"])) as url:
        yield url


def events_of(records: list) -> dict[str, tuple[CloudEvent, bytes | None]]:  # type: ignore[type-arg]
    decoded = {}
    for record in records:
        event = decode(record.value(), record.headers())
        decoded[event.id] = (event, record.key())
    return decoded


def test_putevents_rest_round_trip(gateway_url: str, gateway_bus: str, read_back: ReadBack) -> None:
    entries = [
        {
            "Source": "acme.monitoring",
            "DetailType": "Alarm State Change",
            "Detail": orjson.dumps({"severity": "critical", "n": i}).decode(),
            "Resources": [f"arn:aws:cloudwatch:us-east-1:1:alarm:a{i}"],
            "Time": "2024-06-01T12:00:00Z",
        }
        for i in range(3)
    ]
    entries.insert(1, {"Source": "acme.monitoring", "DetailType": "x", "Detail": "not json"})
    response = httpx.post(f"{gateway_url}/v1/buses/{gateway_bus}/events", json={"Entries": entries})
    assert response.status_code == 200
    body = response.json()
    assert body["FailedEntryCount"] == 1
    assert body["Entries"][1] == {
        "ErrorCode": "MalformedDetail",
        "ErrorMessage": "Detail is malformed.",
    }
    ids = [e["EventId"] for i, e in enumerate(body["Entries"]) if i != 1]
    decoded = events_of(read_back(bus_topic(gateway_bus), 3))
    assert set(decoded) == set(ids)
    for n, event_id in enumerate(ids):
        event, key = decoded[event_id]
        assert event.source == "acme.monitoring"
        assert event.type == "Alarm State Change"
        assert event.data == {"severity": "critical", "n": n}
        assert event.time == "2024-06-01T12:00:00Z"
        assert event.extensions["kbridgebus"] == gateway_bus
        assert orjson.loads(event.extensions["resources"]) == [
            f"arn:aws:cloudwatch:us-east-1:1:alarm:a{n}"
        ]
        # Keyed by event id (no PartitionKey given): one Source spreads over partitions.
        assert key == event_id.encode()


def boto_client(url: str, key: str = "AKIDTEST", secret: str = "secret") -> object:
    return boto3.client(
        "events",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def test_boto3_put_events_and_test_event_pattern(
    gateway_url: str, gateway_bus: str, read_back: ReadBack
) -> None:
    events = boto_client(gateway_url)
    response = events.put_events(  # type: ignore[attr-defined]
        Entries=[
            {
                "Source": "acme.billing",
                "DetailType": "Invoice Paid",
                "Detail": '{"amount": 42}',
                "EventBusName": gateway_bus,
                "Resources": ["arn:aws:billing::1:invoice/7"],
            },
            {"Source": "acme.billing", "DetailType": "t", "Detail": "{}", "EventBusName": "nope"},
            {
                "Source": "acme.billing",
                "DetailType": "Refund",
                "Detail": "{}",
                "EventBusName": f"arn:aws:events:us-east-1:123456789012:event-bus/{gateway_bus}",
                "Time": datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
            },
        ]
    )
    assert response["FailedEntryCount"] == 1
    assert response["Entries"][1]["ErrorCode"] == "ResourceNotFoundException"
    decoded = events_of(read_back(bus_topic(gateway_bus), 2))
    event, _ = decoded[response["Entries"][0]["EventId"]]
    assert (event.source, event.type, event.data) == (
        "acme.billing",
        "Invoice Paid",
        {"amount": 42},
    )
    assert event.time is not None  # boto3 sent none: the gateway stamped it
    refund, _ = decoded[response["Entries"][2]["EventId"]]
    assert refund.time == "2024-05-01T08:30:00Z"  # boto3 sends Time as epoch seconds

    aws_event = orjson.dumps(
        {
            "id": "1",
            "account": "123456789012",
            "source": "acme.billing",
            "time": "2024-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail-type": "Invoice Paid",
            "detail": {"amount": 42},
        }
    ).decode()
    matches = events.test_event_pattern(  # type: ignore[attr-defined]
        EventPattern='{"detail": {"amount": [{"numeric": [">", 10]}]}}', Event=aws_event
    )
    assert matches["Result"] is True
    misses = events.test_event_pattern(  # type: ignore[attr-defined]
        EventPattern='{"source": ["other"]}', Event=aws_event
    )
    assert misses["Result"] is False
    with pytest.raises(ClientError) as info:
        events.test_event_pattern(EventPattern='{"source": "x"}', Event=aws_event)  # type: ignore[attr-defined]
    assert info.value.response["Error"]["Code"] == "InvalidEventPatternException"
    assert "Event pattern is not valid. Reason:" in info.value.response["Error"]["Message"]


def test_boto3_with_sigv4_verification(
    gateway_settings: Settings, gateway_bus: str, read_back: ReadBack
) -> None:
    keys = KeyRing(
        access_keys=[AccessKey("AKIDGOOD", "right-secret", frozenset({f"put:{gateway_bus}"}))]
    )
    app = create_app(gateway_settings, known_buses=[gateway_bus, "other"], keys=keys)
    entry = {"Source": "acme.app", "DetailType": "t", "Detail": "{}", "EventBusName": gateway_bus}
    with serve(app) as url:
        good = boto_client(url, "AKIDGOOD", "right-secret")
        response = good.put_events(  # type: ignore[attr-defined]
            Entries=[entry, {**entry, "EventBusName": "other"}]
        )
        assert response["Entries"][1]["ErrorCode"] == "AccessDeniedException"
        assert response["FailedEntryCount"] == 1
        with pytest.raises(ClientError) as info:
            boto_client(url, "AKIDGOOD", "wrong-secret").put_events(Entries=[entry])  # type: ignore[attr-defined]
        assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
        with pytest.raises(ClientError) as info:
            boto_client(url, "AKIDOTHER", "x").put_events(Entries=[entry])  # type: ignore[attr-defined]
        assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    [record] = read_back(bus_topic(gateway_bus), 1)  # only the authorized entry was produced
    assert decode(record.value(), record.headers()).id == response["Entries"][0]["EventId"]


def sdk_event(n: int) -> SdkEvent:
    return SdkEvent(
        attributes={
            "id": f"ce-{n}",
            "source": "https://example.com/sensors",
            "type": "com.example.reading",
            "subject": f"sensor-{n}",
            "datacontenttype": "application/json",
            "comexampleext": "v",
        },
        data={"celsius": 20 + n},
    )


def test_cloudevents_http_binding_with_the_sdk(
    gateway_url: str, gateway_bus: str, read_back: ReadBack
) -> None:
    url = f"{gateway_url}/v1/buses/{gateway_bus}/cloudevents"
    binary = sdk_http.to_binary_event(sdk_event(1))
    response = httpx.post(url, headers=dict(binary.headers), content=binary.body)
    assert response.status_code == 202, response.text
    assert response.json() == {"id": "ce-1"}
    structured = sdk_http.to_structured_event(sdk_event(2))
    response = httpx.post(url, headers=dict(structured.headers), content=structured.body)
    assert response.status_code == 202, response.text
    batch = b"[" + b",".join(JSONFormat().write(sdk_event(n)) for n in (3, 4)) + b"]"
    response = httpx.post(
        url, headers={"content-type": "application/cloudevents-batch+json"}, content=batch
    )
    assert response.status_code == 202, response.text
    assert response.json()["failed"] == 0
    decoded = events_of(read_back(bus_topic(gateway_bus), 4))
    assert set(decoded) == {"ce-1", "ce-2", "ce-3", "ce-4"}
    for n in range(1, 5):
        event, key = decoded[f"ce-{n}"]
        assert event.source == "https://example.com/sensors"
        assert event.type == "com.example.reading"
        assert event.data == {"celsius": 20 + n}
        assert event.extensions == {"comexampleext": "v"}
        assert key == f"sensor-{n}".encode()  # partition key: subject
    assert httpx.get(f"{gateway_url}/readyz").json() == {"status": "ready", "reason": "ok"}
    metrics = httpx.get(f"{gateway_url}/metrics").text
    assert (
        f'kbridge_gateway_events_accepted_total{{bus="{gateway_bus}",endpoint="cloudevents"}} 4.0'
        in metrics
    )


def test_cloudevents_batch_reports_each_event(
    gateway_url: str, gateway_bus: str, read_back: ReadBack
) -> None:
    """A batch within the request limit holding one event over the event limit: that event
    is refused (and named), its neighbour is produced, the status says it was partial."""
    small = {"specversion": "1.0", "id": "small", "source": "/s", "type": "t", "data": {"a": 1}}
    big = {**small, "id": "big", "data": {"blob": "x" * (300 * 1024)}}
    response = httpx.post(
        f"{gateway_url}/v1/buses/{gateway_bus}/cloudevents",
        content=orjson.dumps([big, small]),
        headers={"content-type": "application/cloudevents-batch+json"},
    )
    assert response.status_code == 207
    body = response.json()
    assert body["failed"] == 1
    assert body["events"][0]["id"] == "big"
    assert body["events"][0]["accepted"] is False
    assert body["events"][0]["error"]["code"] == "event-too-large"
    assert "the limit is 262144" in body["events"][0]["error"]["message"]
    assert body["events"][1] == {"id": "small", "accepted": True}
    [record] = read_back(bus_topic(gateway_bus), 1)
    assert decode(record.value(), record.headers()).id == "small"
