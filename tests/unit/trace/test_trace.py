"""Trace records, the writer's stage records, sampling, partitioning and rendering (no broker)."""

from __future__ import annotations

from typing import Any

import pytest

from processor.config import parse_config
from processor.errors import ConfigError, RetriableError
from processor.events import CloudEvent, encode
from processor.router.core import route
from processor.router.records import InRecord
from processor.router.table import RoutingTable
from processor.sinks.base import Delivery
from processor.trace import record as r
from processor.trace import render, writer
from processor.trace.lookup import timeline
from processor.trace.partitioning import murmur2, partition_for, trace_partition
from processor.trace.settings import TraceSettings, load_trace_settings


# Expected values: Kafka's own murmur2 test vectors,
# https://github.com/apache/kafka/blob/8ab0994919752cd4870e771221ba934a6a539a67/clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java#L66-L78
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
def test_murmur2_is_kafkas(text: str, expected: int) -> None:
    assert murmur2(text.encode()) == expected


def test_partition_is_the_positive_hash_modulo_the_partition_count() -> None:
    # toPositive(murmur2("abc")) % 6 == 479470107 % 6 (the hash is already positive)
    assert partition_for(b"abc", 6) == 479470107 % 6 == 3
    assert partition_for(b"21", 6) == (-973932308 & 0x7FFFFFFF) % 6
    assert {partition_for(f"id-{i}".encode(), 6) for i in range(200)} == set(range(6))


def test_record_round_trip_leaves_out_empty_fields() -> None:
    rec = r.TraceRecord("e1", r.ROUTED, 1700000000.123, "router", bus="ops", rules=("a", "b"))
    raw = rec.to_json()
    assert raw == {
        "v": 1,
        "event_id": "e1",
        "stage": "routed",
        "at": 1700000000.123,
        "by": "router",
        "bus": "ops",
        "rules": ["a", "b"],
    }
    assert r.decode(rec.encode()) == rec


@pytest.mark.parametrize(
    "value", [None, b"", b"not json", b"[1]", b'{"stage": "x"}', b'{"event_id": "e", "at": 1}']
)
def test_decode_refuses_what_is_not_a_trace_record(value: bytes | None) -> None:
    assert r.decode(value) is None


def test_decode_ignores_fields_a_newer_writer_added() -> None:
    rec = r.decode(b'{"v": 2, "event_id": "e", "stage": "accepted", "at": 1, "new": 5}')
    assert rec is not None and rec.stage == "accepted" and rec.by == "?"


def test_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBRIDGE_TRACE__SAMPLE", "2")
    with pytest.raises(ConfigError, match="KBRIDGE_TRACE__SAMPLE"):
        load_trace_settings()


class Memory:
    """A send function that keeps what it was given (Kafka records of trace lines)."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[int, bytes, int]] = []
        self.fail = fail
        self.writer: writer.TraceWriter | None = None

    def __call__(self, partition: int, value: bytes, count: int) -> None:
        if self.fail:
            raise BufferError("queue full")
        self.sent.append((partition, value, count))

    @property
    def records(self) -> list[tuple[int, r.TraceRecord]]:
        """``(partition, record)`` of every trace record, after flushing the writer."""
        if self.writer is not None:
            self.writer.flush()
        out = []
        for partition, value, count in self.sent:
            recs = r.decode_all(value)
            assert len(recs) == count == len(value.split(b"\n"))
            out.extend((partition, rec) for rec in recs)
        return out


def make_writer(send: Memory, **settings: object) -> writer.TraceWriter:
    tracer = writer.TraceWriter(
        send, TraceSettings(**settings), by="test", clock=lambda: 1000.0, partitions=6
    )
    send.writer = tracer
    return tracer


def where(event_id: str) -> int:
    """The trace partition the writer must use for ``event_id`` (6 partitions)."""
    return trace_partition(event_id.encode(), 6)


def test_accepted_record_carries_bus_position_and_attributes() -> None:
    send = Memory()
    event = CloudEvent(
        id="e-1", source="acme", type="Order", extensions={"traceparent": "00-ab-cd-01"}
    )
    headers = encode(event, "binary").headers
    make_writer(send).accepted("e-1", "ops", 2, 41, headers, topic="kbridge.bus.ops")
    [(key, rec)] = send.records
    assert key == where("e-1")
    assert (rec.stage, rec.bus, rec.partition, rec.offset) == ("accepted", "ops", 2, 41)
    assert (rec.source, rec.type, rec.traceparent) == ("acme", "Order", "00-ab-cd-01")


def test_a_full_queue_drops_the_trace_record_and_never_raises() -> None:
    send = Memory(fail=True)
    tracer = make_writer(send)
    tracer.accepted("e-1", "ops", 0, 0)
    assert tracer.flush() == 0
    assert (tracer.written, tracer.dropped) == (0, 1)


CONFIG = """
buses: [{name: ops}]
targets:
  - {name: pager, kind: webhook, url: "http://127.0.0.1:9/x", allow_private_network: true}
rules:
  - {name: alarms, bus: ops, pattern: {type: [alarm]}, targets: [{target: pager}]}
  - name: broken
    bus: ops
    pattern: {type: [broken]}
    targets: [{target: pager, transform: {path: "$.data.missing"}}]
"""


def ingress(event_type: str, mode: str = "binary") -> InRecord:
    event = CloudEvent(
        id=f"id-{event_type}",
        source="s",
        type=event_type,
        datacontenttype="application/json",
        data={"x": 1},
    )
    encoded = encode(event, mode)  # type: ignore[arg-type]
    return InRecord("kbridge.bus.ops", 0, 7, encoded.key, encoded.value, encoded.headers, 1)


@pytest.mark.parametrize(
    ("event_type", "mode", "stage", "targets"),
    [
        ("alarm", "binary", "routed", ["pager"]),
        ("alarm", "structured", "routed", ["pager"]),
        ("other", "binary", "unmatched", []),
        ("broken", "binary", "router-dead-lettered", []),
    ],
)
def test_router_records_from_the_real_routing_core(
    event_type: str, mode: str, stage: str, targets: list[str]
) -> None:
    table = RoutingTable.from_config(parse_config(CONFIG, "test.yaml"))
    record = ingress(event_type, mode)
    send = Memory()
    writer.install(make_writer(send))
    try:
        writer.routed_batch([record], [route(table, record)])
    finally:
        writer.install(None)
    [(key, rec)] = send.records
    assert key == where(f"id-{event_type}")
    assert rec.stage == stage and list(rec.targets) == targets
    assert (rec.topic, rec.partition, rec.offset) == ("kbridge.bus.ops", 0, 7)
    if stage == "router-dead-lettered":
        assert rec.error_code and rec.rules == ("broken",)


def test_sink_records_name_target_rule_attempts_latency_and_error() -> None:
    delivery = Delivery(
        b"{}",
        {"ce_id": "e-9", "kbridge-bus": "ops", "kbridge-rule": "alarms"},
        topic="kbridge.target.pager",
        partition=1,
        offset=3,
    )
    send = Memory()
    tracer = make_writer(send)
    tracer.delivered(delivery, attempts=2, latency=0.0123)
    tracer.dead_lettered(
        delivery, attempts=3, code="http-400", message="bad", condition="non-retriable"
    )
    done, letter = (rec for _, rec in send.records)
    assert (done.stage, done.target, done.rule, done.attempts, done.latency_ms) == (
        "delivered",
        "pager",
        "alarms",
        2,
        12.3,
    )
    assert (letter.stage, letter.error_code, letter.condition) == (
        "dead-lettered",
        "http-400",
        "non-retriable",
    )
    off = Memory()
    make_writer(off, off_buses="ops").delivered(delivery, attempts=1, latency=0)
    assert off.records == []


def test_timeline_orders_by_time_then_stage_and_renders() -> None:
    recs = [
        r.TraceRecord("e", r.DELIVERED, 10.5, "sink", target="t", attempts=1, latency_ms=5.0),
        r.TraceRecord("e", r.ROUTED, 10.0, "router", rules=("a",), targets=("t",)),
        r.TraceRecord("e", r.ACCEPTED, 10.0, "gateway", bus="b", partition=0, offset=1),
    ]
    ordered = timeline(recs)
    assert [x.stage for x in ordered] == ["accepted", "routed", "delivered"]
    answer = render.as_json("e", ordered)
    assert answer["outcome"] == "delivered"
    assert answer["timeline"][0]["time"] == "1970-01-01T00:00:10.000Z"
    assert render.detail(ordered[2]) == "target t; 1 attempt; 5 ms after ingestion"
    assert render.outcome([]) == "not-found"


def test_timeline_keeps_causal_order_when_a_later_stage_has_an_earlier_clock() -> None:
    """The router routed (and a sink delivered) before the gateway's handler stamped its
    ack: on a busy machine the gateway's ``at`` can be later than the router's."""
    recs = [
        r.TraceRecord("e", r.UNMATCHED, 10.001, "router"),
        r.TraceRecord("e", r.ACCEPTED, 10.004, "gateway", bus="b", partition=0, offset=1),
        r.TraceRecord("e", r.DELIVERED, 10.002, "sink", target="t", attempts=2),
        r.TraceRecord("e", r.RETRIED, 10.0015, "sink", target="t", attempts=1),
    ]
    assert [x.stage for x in timeline(recs)] == ["accepted", "unmatched", "retried", "delivered"]
    # within one phase, time decides (a retry of target u after t's delivery)
    later = r.TraceRecord("e", r.RETRIED, 10.009, "sink", target="u", attempts=1)
    assert [x.stage for x in timeline([later, *recs])][-1] == "retried"


def test_a_sources_publish_writes_accepted_by_the_source() -> None:
    import asyncio

    from tests.unit.sources.test_base import ListPublisher, ScriptedSource

    send = Memory()
    writer.install(make_writer(send))
    try:
        source = ScriptedSource(ListPublisher(), 0, [])
        event = CloudEvent(id="src-1", source="test", type="t", data={"v": 1})
        ack = asyncio.run(source.publish(event))
    finally:
        writer.install(None)
    [(key, rec)] = send.records
    assert key == where("src-1") and rec.by == "source:test-source"
    assert (rec.stage, rec.bus, rec.partition, rec.offset) == ("accepted", "iot", *ack)
    assert (rec.source, rec.type) == ("test", "t")


class Flaky:
    """A sink whose first attempts fail with ``errors`` (one per attempt), then accept."""

    max_batch_size = 10

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)

    async def deliver(self, batch: Any) -> list[BaseException | None]:
        error = self.errors.pop(0) if self.errors else None
        return [error] * len(batch)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # a failing attempt: retried with its backoff
        (RetriableError("answered 503", code="http-503"), ("http-503", None)),
        # the whole destination unreachable: held until it answers (docs/tracing.md)
        (RetriableError("refused", code="connection"), ("connection", "destination-down")),
    ],
)
def test_a_retried_attempt_is_traced_before_the_delivery(
    error: BaseException, expected: tuple[str, str | None]
) -> None:
    import asyncio

    from processor.sinks.batch import run_batch
    from processor.sinks.retry import Backoff, RetryLimits

    async def no_wait(_seconds: float) -> None:
        return None

    send = Memory()
    writer.install(make_writer(send))
    delivery = Delivery(b"{}", {"ce_id": "e-3"}, topic="kbridge.target.pager")
    try:
        result = asyncio.run(
            run_batch(
                Flaky(error),  # type: ignore[arg-type]
                [delivery],
                limits_for=lambda _d: RetryLimits(),
                wait=no_wait,
                backoff=Backoff(0.001, 0.002),
            )
        )
    finally:
        writer.install(None)
    assert result.delivered == 1
    retried, delivered = (rec for _, rec in send.records)
    assert (retried.stage, retried.error_code, retried.condition) == ("retried", *expected)
    assert (retried.retry_in_ms is None) == (expected[1] is not None)
    assert delivered.stage == "delivered"
    assert "retry in" in render.detail(retried) or "held until" in render.detail(retried)


def test_records_wait_until_the_partition_count_is_known(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing is produced before the topic check (no auto-created topic); what waits is
    bounded, and flows once the partition count is known."""
    send = Memory()
    tracer = writer.TraceWriter(send, TraceSettings(), by="test", clock=lambda: 1.0)
    monkeypatch.setattr(writer, "MAX_PENDING", 2)
    for i in range(3):
        tracer.accepted(f"e-{i}", "ops", 0, i)
    assert tracer.flush() == 0 and send.sent == []
    assert tracer.dropped == 1
    tracer.partitions = 6
    assert tracer.flush() == 2
    assert sorted(rec.offset or 0 for _, rec in send.records) == [0, 1]


def test_template_lines_escape_ids_and_attributes_like_json() -> None:
    """The hot stages write lines from bytes templates; odd ids and header values must
    still come back exactly (quotes, backslashes, newlines, non-ASCII)."""
    send = Memory()
    tracer = make_writer(send)
    odd = 'a"b\\c\nd-é-😀'
    headers = [("ce_source", b'src "x"\n'), ("ce_type", "Typ\\é".encode())]
    tracer.accepted(odd, "ops", 1, 2, headers, topic="kbridge.bus.ops")
    [(partition, rec)] = send.records
    assert partition == where(odd)
    assert (rec.event_id, rec.source, rec.type, rec.topic) == (
        odd,
        'src "x"\n',
        "Typ\\é",
        "kbridge.bus.ops",
    )
    assert rec.at == 1000.0 and rec.by == "test"


def test_many_events_share_one_kafka_record_per_partition() -> None:
    table = RoutingTable.from_config(parse_config(CONFIG, "test.yaml"))
    events = []
    for i in range(300):
        event = CloudEvent(id=f"ev-{i}", source="s", type="alarm" if i % 3 else "other")
        encoded = encode(event, "binary")
        events.append(InRecord("kbridge.bus.ops", 0, i, None, encoded.value, encoded.headers, 1))
    records = events
    send = Memory()
    writer.install(make_writer(send))
    try:
        writer.routed_batch(records, [route(table, rec) for rec in records])
    finally:
        writer.install(None)
    got = send.records
    assert len(send.sent) <= 6  # one Kafka record per partition, not 300
    assert sorted(rec.offset or 0 for _, rec in got) == list(range(300))
    assert all(partition == where(rec.event_id) for partition, rec in got)
    by_id = {rec.event_id: rec for _, rec in got}
    assert by_id["ev-1"].stage == "routed" and by_id["ev-1"].targets == ("pager",)
    assert by_id["ev-0"].stage == "unmatched" and by_id["ev-0"].rules == ()
    # the lookup's filter keeps one event's lines of a shared Kafka record
    _, value, _ = next(s for s in send.sent if s[0] == where("ev-7"))
    assert [rec.event_id for rec in r.decode_all(value, "ev-7")] == ["ev-7"]
    assert r.decode_all(value, "ev-70000") == []


def test_a_large_flush_is_cut_below_the_broker_record_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer, "MAX_RECORD_BYTES", 1000)
    send = Memory()
    tracer = make_writer(send)
    for i in range(200):
        tracer.accepted(f"e-{i}", "ops", 0, i)
    assert tracer.flush() == 200
    assert all(len(value) <= 1000 for _, value, _ in send.sent)
    assert len(send.records) == 200
