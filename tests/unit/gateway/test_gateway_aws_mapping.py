"""PutEvents entries mapped onto CloudEvents, and AWS's per-entry errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from processor.events import CloudEvent
from processor.gateway.aws import EntryError, bus_name, entry_size, entry_to_event, parse_time

LIMIT = 256 * 1024


def entry(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Source": "acme.monitoring",
        "DetailType": "Alarm State Change",
        "Detail": '{"severity": "critical", "env": "prod"}',
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def mapped(raw: Any, bus: str = "ops") -> CloudEvent | EntryError:
    return entry_to_event(
        raw,
        bus,
        max_event_bytes=LIMIT,
        new_id=lambda: "11111111-2222-3333-4444-555555555555",
        now=lambda: datetime(2024, 6, 1, 12, 0, tzinfo=UTC),
    )


def test_entry_maps_onto_cloudevent() -> None:
    event = mapped(
        entry(
            Resources=["arn:aws:ec2:us-east-1:1:instance/i-1"],
            Time=1717243200,
            TraceHeader="Root=1-5759e988-bd862e3fe1be46a994272793",
        )
    )
    assert isinstance(event, CloudEvent)
    assert event.id == "11111111-2222-3333-4444-555555555555"
    assert event.source == "acme.monitoring"
    assert event.type == "Alarm State Change"
    assert event.data == {"severity": "critical", "env": "prod"}
    assert event.datacontenttype == "application/json"
    assert event.time == "2024-06-01T12:00:00Z"
    assert event.extensions["kbridgebus"] == "ops"
    assert orjson.loads(event.extensions["resources"]) == ["arn:aws:ec2:us-east-1:1:instance/i-1"]
    assert event.extensions["traceheader"].startswith("Root=1-")


def test_time_defaults_to_now() -> None:
    event = mapped(entry())
    assert isinstance(event, CloudEvent)
    assert event.time == "2024-06-01T12:00:00Z"


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        (entry(Source=None), "InvalidArgument", "Source is a required argument."),
        (entry(DetailType=""), "InvalidArgument", "DetailType is a required argument."),
        (entry(Detail=None), "InvalidArgument", "Detail is a required argument."),
        (entry(Detail="{bad"), "MalformedDetail", "Detail is malformed."),
        (entry(Detail="[1, 2]"), "MalformedDetail", "it must be a JSON object"),
        (entry(Source=5), "InvalidArgument", "Source must be a string."),
        (entry(Source="has space"), "InvalidArgument", "attribute 'source' must be a URI"),
        (entry(Time="not a time"), "InvalidArgument", "is not an ISO 8601 timestamp"),
        (entry(Time=True), "InvalidArgument", "Time must be a timestamp"),
        (entry(Resources="arn:x"), "InvalidArgument", "Resources must be a list of strings"),
        (entry(TraceHeader=7), "InvalidArgument", "TraceHeader must be a string"),
        ("not an object", "InvalidArgument", "each entry must be a JSON object"),
        (
            entry(Detail=orjson.dumps({"x": "y" * LIMIT}).decode()),
            "InvalidArgument",
            "exceeds the limit of 262144 bytes",
        ),
    ],
)
def test_entry_errors(raw: Any, code: str, message: str) -> None:
    result = mapped(raw)
    assert isinstance(result, EntryError)
    assert result.code == code
    assert message in result.message
    assert result.as_result() == {"ErrorCode": code, "ErrorMessage": result.message}


def test_entry_size_counts_like_aws() -> None:
    raw = entry(Time=0, Resources=["ab", "c\u00e9"])
    expected = 14 + len("acme.monitoring") + len("Alarm State Change") + len(raw["Detail"]) + 5
    assert entry_size(raw) == expected


@pytest.mark.parametrize(
    ("value", "bus"),
    [
        (None, "default"),
        ("", "default"),
        ("orders", "orders"),
        ("arn:aws:events:us-east-1:123456789012:event-bus/orders", "orders"),
    ],
)
def test_bus_name(value: Any, bus: str) -> None:
    assert bus_name(value) == bus


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1717243200.5, "2024-06-01T12:00:00.500000Z"),
        ("2024-06-01T12:00:00Z", "2024-06-01T12:00:00Z"),
        ("2024-06-01T14:00:00+02:00", "2024-06-01T14:00:00+02:00"),
        ("2024-06-01T12:00:00", "2024-06-01T12:00:00Z"),
    ],
)
def test_parse_time(value: Any, text: str) -> None:
    assert parse_time(value) == text


@pytest.mark.parametrize("value", [float("nan"), -1, 1e20, [], "yesterday"])
def test_parse_time_rejects(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_time(value)
