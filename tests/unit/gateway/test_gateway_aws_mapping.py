"""PutEvents entries mapped onto CloudEvents, and AWS's per-entry errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from processor.events import CloudEvent, encode
from processor.events.attributes import check_uri_reference
from processor.gateway.aws import EntryError, bus_name, entry_size, entry_to_event, parse_time
from processor.gateway.aws_rules import (
    REQUEST_ENTRIES_LIMIT,
    entries_size,
    request_body_limit,
    source_uri,
)

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


# -- issue 16 items 14-16: AWS's PutEvents contract -------------------------------------------
# API model: botocore data/events/2015-10-07/service-2.json (repository boto/botocore),
# shapes PutEventsRequestEntry, TraceHeader (1-500), EventResource (<= 2048),
# NonPartnerEventBusNameOrArn (1-1600, pattern), PutEventsResultEntry.ErrorCode; DetailType
# "with a maximum of 128 characters":
# https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        (entry(DetailType="d" * 129), "InvalidArgument", "Parameter DetailType is not valid"),
        (entry(Resources=["r" * 2049]), "InvalidArgument", "Resources[0] is 2049 characters"),
        (entry(TraceHeader="t" * 501), "InvalidArgument", "Parameter TraceHeader is not valid"),
        (entry(TraceHeader=""), "InvalidArgument", "Parameter TraceHeader is not valid"),
        (entry(EventBusName="bad name!"), "InvalidArgument", "Parameter EventBusName"),
        (entry(EventBusName="b" * 1601), "InvalidArgument", "Parameter EventBusName"),
        # AWS reserves sources starting with "aws." for its own services
        (entry(Source="aws.ec2"), "NotAuthorizedForSourceException", "Not authorized"),
        # "For the JSON number (integer) data type, the constraints are: a minimum value of
        # -9,223,372,036,854,775,808 and a maximum value of 9,223,372,036,854,775,807."
        (entry(Detail='{"n": 9223372036854775808}'), "MalformedDetail", "64-bit"),
        (entry(Detail='{"n": [-9223372036854775809]}'), "MalformedDetail", "64-bit"),
        # "PutEvents will only process nested JSON up to 1000 levels deep."
        (entry(Detail="[" * 1001 + "]" * 1001), "MalformedDetail", "malformed"),
        (entry(Detail='{"a":' + "[" * 1000 + "]" * 1000 + "}"), "MalformedDetail", "1001 levels"),
        (entry(Detail='{"a":' + "[" * 1100 + "]" * 1100 + "}"), "MalformedDetail", "1000 levels"),
    ],
)
def test_api_model_constraints(raw: Any, code: str, message: str) -> None:
    result = mapped(raw)
    assert isinstance(result, EntryError), result
    assert result.code == code
    assert message in result.message


@pytest.mark.parametrize(
    "raw",
    [
        entry(DetailType="d" * 128),
        entry(Resources=["r" * 2048]),
        entry(TraceHeader="t" * 500),
        entry(EventBusName="arn:aws:events:us-east-1:123456789012:event-bus/orders"),
        entry(EventBusName="my.bus-name_1/x"),
        entry(Source="awsome.app"),  # only the "aws." prefix is reserved
        entry(Detail='{"n": 9223372036854775807, "m": -9223372036854775808}'),
        entry(Detail='{"s": "12345678901234567890", "t": "\\"12345678901234567890"}'),
        entry(Detail='{"f": 1.5e300, "id": "99999999999999999999"}'),
    ],
)
def test_values_at_the_limits_are_accepted(raw: Any) -> None:
    assert isinstance(mapped(raw), CloudEvent)


def test_detail_1000_levels_deep_is_accepted_and_kept_byte_for_byte() -> None:
    detail = '{"a":' + "[" * 999 + "1" + "]" * 999 + "}"  # 1000 levels: AWS's maximum
    event = mapped(entry(Detail=detail))
    assert isinstance(event, CloudEvent)
    record = encode(event, "binary")  # no re-serialisation: orjson.dumps stops at 255 levels
    assert record.value == detail.encode()


def test_plain_text_source_maps_to_a_uri_reference() -> None:
    """AWS accepts any Source text; CloudEvents' source is a URI-reference (RFC 3986)."""
    event = mapped(entry(Source="my source"))
    assert isinstance(event, CloudEvent)
    assert event.source == "my%20source"
    assert event.extensions["awssource"] == "my source"  # what AWS rules match
    plain = mapped(entry(Source="com.acme.orders"))
    assert isinstance(plain, CloudEvent) and "awssource" not in plain.extensions


@pytest.mark.parametrize(
    ("source", "uri"),
    [
        ("com.acme.orders", "com.acme.orders"),
        ("/a/b?c=d", "/a/b?c=d"),
        ("urn:acme:orders", "urn:acme:orders"),
        ("my source", "my%20source"),
        ("caf\u00e9", "caf%C3%A9"),
        ("100%", "100%25"),
        ("a%20b", "a%20b"),  # already a URI-reference
        ("1:x", "1%3Ax"),  # not a scheme
        ('say "hi"', "say%20%22hi%22"),
    ],
)
def test_source_uri(source: str, uri: str) -> None:
    assert source_uri(source) == uri
    check_uri_reference("source", uri)


def test_route_matches_aws_rules_on_the_original_source() -> None:
    from processor.config import parse_config
    from processor.router.core import route
    from processor.router.records import InRecord
    from processor.router.table import RoutingTable

    config = """
buses: [{name: ops}]
targets: [{name: archive, kind: kafka, topic: archive}]
rules:
  - {name: plain, bus: ops, pattern: {source: [my source]}, targets: [{target: archive}]}
"""
    table = RoutingTable.from_config(parse_config(config, "t.yaml"))
    event = mapped(entry(Source="my source"))
    assert isinstance(event, CloudEvent)
    rec = encode(event, "binary")
    result = route(table, InRecord("kbridge.bus.ops", 0, 0, rec.key, rec.value, rec.headers, 1))
    assert result.matched_rules == ("plain",)


def test_request_size_counts_entries_like_aws() -> None:
    entries = [entry(Detail=orjson.dumps({"x": "y" * 220_000}).decode())] * 5
    assert entries_size(entries, entry_size) > REQUEST_ENTRIES_LIMIT
    assert entries_size(entries[:4], entry_size) < REQUEST_ENTRIES_LIMIT
    assert request_body_limit(REQUEST_ENTRIES_LIMIT) >= 2 * REQUEST_ENTRIES_LIMIT


async def test_aws_protocol_applies_the_bus_name_pattern_and_request_limit() -> None:
    """Over HTTP (JSON 1.1), without Kafka: only refusals, so nothing is produced."""
    import httpx

    from processor.gateway.app import create_app
    from processor.settings import Settings

    app = create_app(Settings(), known_buses=["orders"])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as http:
        bad = await http.post(
            "/",
            content=orjson.dumps({"Entries": [entry(EventBusName="bad name!")]}),
            headers=headers,
        )
        assert bad.json()["Entries"][0]["ErrorCode"] == "InvalidArgument"
        assert "EventBusName" in bad.json()["Entries"][0]["ErrorMessage"]
        reserved = await http.post(
            "/",
            content=orjson.dumps({"Entries": [entry(Source="aws.s3", EventBusName="orders")]}),
            headers=headers,
        )
        assert reserved.json()["Entries"][0] == {
            "ErrorCode": "NotAuthorizedForSourceException",
            "ErrorMessage": "Not authorized for the source.",
        }
        big = entry(Detail=orjson.dumps({"x": "y" * 220_000}).decode(), EventBusName="orders")
        over = await http.post("/", content=orjson.dumps({"Entries": [big] * 5}), headers=headers)
        assert over.status_code == 400
        assert over.json() == {
            "__type": "ValidationException",
            "message": "Total size of the entries in the request is over the limit.",
        }
