"""Pure logic of the gateway's hot path: the backpressure account and the direct encoder.

``entry_record`` (PutEvents entry straight to a Kafka record) must produce exactly the
event the model path (``aws.entry_to_event`` then ``encode``) describes: decoding its
record gives the same CloudEvent, for plain and awkward entries alike.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from processor.events import decode
from processor.events.attributes import format_time
from processor.gateway.aws import EntryError, entry_to_event
from processor.gateway.errors import ApiError
from processor.gateway.flow import FlowControl
from processor.gateway.putevents import entry_record, kbridge_fields, new_event_id

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)


def test_budget_refuses_beyond_the_limit_but_admits_one_request_when_idle() -> None:
    reasons: list[str] = []
    flow = FlowControl(max_inflight_bytes=100, ack_timeout=5, on_refuse=reasons.append)
    big = flow.reserve(500)  # idle: one request always gets through
    with pytest.raises(ApiError) as refused:
        flow.reserve(1)
    assert refused.value.status == 503
    assert refused.value.code == "overloaded"
    assert refused.value.headers == {"Retry-After": "1"}
    flow.release(big)
    small = flow.reserve(60)
    with pytest.raises(ApiError):
        flow.reserve(41)
    flow.reserve(40)
    flow.release(small)
    assert flow.inflight_bytes == 40
    assert reasons == ["overloaded", "overloaded"]
    assert flow.peak_bytes == 500


def test_stall_refuses_while_records_pend_and_clears_on_an_acknowledgement() -> None:
    reasons: list[str] = []
    flow = FlowControl(max_inflight_bytes=1 << 20, ack_timeout=2.5, on_refuse=reasons.append)
    flow.records_sent(10)
    flow.timed_out()
    with pytest.raises(ApiError) as refused:
        flow.reserve(1)
    assert refused.value.code == "kafka-unavailable"
    assert refused.value.headers == {"Retry-After": "3"}  # the ack timeout, rounded up
    flow.records_settled(4, acknowledged=True)  # Kafka answers again
    assert flow.stalled_since is None
    flow.release(flow.reserve(1))
    assert reasons == ["kafka-unavailable"]


def test_stall_clears_when_every_pending_record_failed() -> None:
    flow = FlowControl(max_inflight_bytes=1 << 20, ack_timeout=1)
    flow.records_sent(3)
    flow.timed_out()
    flow.records_settled(2, acknowledged=False)
    with pytest.raises(ApiError):
        flow.reserve(1)
    flow.records_settled(1, acknowledged=False)  # nothing pending: probe Kafka again
    flow.release(flow.reserve(1))


ENTRIES: list[dict[str, Any]] = [
    {"Source": "acme.orders", "DetailType": "Order Placed", "Detail": '{"id": 1}'},
    {
        "Source": "my source",  # not a URI-reference: percent-encoded, original kept
        "DetailType": "Alarm",
        "Detail": '{ "nested": {"a": [1, 2.5, "x"]}, "unicode": "h\\u00e9" }',
        "Resources": ["arn:aws:ec2:us-east-1:1:instance/i-1"],
        "Time": "2024-01-31T10:00:00+02:00",
        "TraceHeader": "Root=1-abc",
        "EventBusName": "orders",
    },
    {"Source": "acme.orders", "DetailType": "T", "Detail": "{}", "Time": 1717243200},
]


@pytest.mark.parametrize("entry", ENTRIES)
def test_direct_record_decodes_to_the_model_paths_event(entry: dict[str, Any]) -> None:
    event_id = str(uuid.uuid4())
    encoded = entry_record(
        {**entry, "EventId": event_id}, "orders", 256 * 1024, format_time(NOW), None, 0
    )
    assert not isinstance(encoded, EntryError)
    got_id, key, value, headers = encoded
    expected = entry_to_event(
        entry, "orders", max_event_bytes=256 * 1024, new_id=lambda: event_id, now=lambda: NOW
    )
    assert not isinstance(expected, EntryError)
    assert got_id == event_id
    assert key == event_id.encode()  # no PartitionKey: keyed by id (issue 21 item 4)
    assert value == entry["Detail"].encode()  # the client's Detail text, not re-encoded
    assert decode(value, headers).to_json_dict() == expected.to_json_dict()


def test_direct_record_refuses_what_the_model_path_refuses() -> None:
    now = format_time(NOW)
    for entry in (
        {"Source": "s", "DetailType": "t", "Detail": "[1]"},
        {"Source": "s", "DetailType": "", "Detail": "{}"},
        {"Source": "s", "DetailType": "t", "Detail": "{}", "Time": "yesterday"},
        "not an object",
    ):
        direct = entry_record(entry, "orders", 1024, now)
        model = entry_to_event(entry, "orders", max_event_bytes=1024)
        assert isinstance(direct, EntryError) and isinstance(model, EntryError)
        assert (direct.code, direct.message) == (model.code, model.message)


def test_partition_key_and_ids() -> None:
    entry = {"Source": "s", "DetailType": "t", "Detail": "{}", "PartitionKey": "order-1"}
    encoded = entry_record(entry, "orders", 1024, format_time(NOW))
    assert not isinstance(encoded, EntryError)
    assert encoded[1] == b"order-1"
    assert ("ce_partitionkey", b"order-1") in encoded[3]
    assert kbridge_fields({}, "k", 3) == kbridge_fields({}, "k", 3)
    assert kbridge_fields({}, "k", 3) != kbridge_fields({}, "k", 4)
    for bad in ({"EventId": ""}, {"EventId": 5}, {"PartitionKey": "x" * 257}):
        assert isinstance(kbridge_fields(bad, None, 0), EntryError)
    ids = {new_event_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert orjson.loads(orjson.dumps(sorted(ids))) == sorted(ids)


def test_all_brokers_down_stalls_only_while_records_pend() -> None:
    flow = FlowControl(max_inflight_bytes=1 << 20, ack_timeout=5)
    flow.brokers_down()  # nothing pending: nothing to wait for, requests still probe
    flow.release(flow.reserve(1))
    flow.records_sent(2)
    flow.brokers_down()
    with pytest.raises(ApiError) as refused:
        flow.reserve(1)
    assert refused.value.code == "kafka-unavailable"
    flow.records_settled(2, acknowledged=True)
    flow.release(flow.reserve(1))


async def test_watch_settles_each_waiting_request_at_its_own_deadline() -> None:
    """One timer serves every waiting request: each is settled ack_timeout after it began
    waiting, requests answered first are left alone, and a lowered timeout still holds."""
    import asyncio

    loop = asyncio.get_running_loop()
    flow = FlowControl(max_inflight_bytes=1 << 20, ack_timeout=0.2)
    settled: dict[str, float] = {}

    def waiting(name: str) -> asyncio.Future[None]:
        done: asyncio.Future[None] = loop.create_future()
        done.add_done_callback(lambda _: settled.setdefault(name, loop.time()))
        flow.watch(done)
        return done

    start = loop.time()
    first = waiting("first")
    answered = waiting("answered")
    await asyncio.sleep(0.1)
    answered.set_result(None)  # Kafka acknowledged it: the timer must not touch it again
    later = waiting("later")
    flow.ack_timeout = 0.05  # lowered while others wait: the new request keeps its own
    hurried = waiting("hurried")
    await asyncio.gather(first, later, hurried)
    assert 0.19 <= settled["first"] - start < 0.3
    assert 0.09 <= settled["answered"] - start < 0.15
    assert 0.29 <= settled["later"] - start < 0.4
    assert 0.14 <= settled["hurried"] - start < 0.25
    assert settled["hurried"] < settled["later"]
    assert not flow._waiting  # every settled request left the queue
