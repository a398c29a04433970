"""The sink worker against the real broker: commits, dead letters, pauses, live config, stop."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sink_support import (
    FAST,
    StaticConfig,
    committed,
    end_offsets,
    make_topics,
    produce,
    read_all,
    running,
    until,
)

from processor.errors import BackpressureError, FatalError, RetriableError
from processor.kafka import KafkaClientConfig
from processor.kafka.topics import target_dlq_topic, target_topic
from processor.sinks.base import Delivery, Sink, SinkContext
from processor.sinks.metrics import SinkMetrics
from processor.sinks.testing import ListSink
from processor.sinks.worker import SinkWorker

pytestmark = pytest.mark.kafka


@dataclass(frozen=True)
class FakeTarget:
    name: str
    kind: str = "list"
    label: str = "v1"
    batch_size: int = 50


def _setup(kafka_bootstrap: str, unique: str) -> tuple[KafkaClientConfig, str, StaticConfig]:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    target = f"w-{unique}"
    make_topics(kafka, target)
    config = StaticConfig(targets={target: FakeTarget(target)})
    config.add_rule("r1", target)
    return kafka, target, config


async def test_delivers_everything_and_commits_after_delivery(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka, target, config = _setup(kafka_bootstrap, unique)
    sink = ListSink()
    produce(kafka, target_topic(target), 600)
    worker = SinkWorker(
        target, kafka=kafka, snapshot=lambda: config, settings=FAST, builder=lambda t, c: sink
    )
    async with running(worker):
        await until(lambda: len(sink.delivered) >= 600, what="600 deliveries")
        ends = end_offsets(kafka, target_topic(target))
        await until(
            lambda: (
                worker.committed == {(target_topic(target), p): o for p, o in ends.items() if o}
            ),
            what="commits",
        )
    assert sorted(d.event_id for d in sink.delivered) == sorted(f"evt-{i}" for i in range(600))
    assert committed(kafka, target) == ends
    assert sink.closed


async def test_dead_letters_keep_the_record_and_say_why(kafka_bootstrap: str, unique: str) -> None:
    kafka, target, config = _setup(kafka_bootstrap, unique)
    config.add_rule("r1", target, max_attempts=2)

    def fail(d: Delivery, attempt: int) -> BaseException | None:
        n = int(d.event_id.split("-")[1])
        if n % 10 == 3:
            return FatalError("HTTP 400 from h: bad", code="http-400")
        if n % 10 == 7:
            return RetriableError("HTTP 500 from h", code="http-500")
        return None

    sink = ListSink(fail)
    registry = CollectorRegistry()
    produce(kafka, target_topic(target), 100)
    worker = SinkWorker(
        target,
        kafka=kafka,
        snapshot=lambda: config,
        settings=FAST,
        builder=lambda t, c: sink,
        metrics=SinkMetrics(registry),
    )
    async with running(worker):
        await until(lambda: worker.delivered + worker.dead_lettered >= 100, what="all settled")
    letters = read_all(kafka, target_dlq_topic(target), 20)
    assert len(letters) == 20
    by_id = {}
    for msg in letters:
        headers = {k: v.decode() for k, v in msg.headers()}
        by_id[headers["ce_id"]] = (headers, msg)
    fatal_headers, fatal_msg = by_id["evt-3"]
    assert fatal_headers["kbridge-error-code"] == "http-400"
    assert fatal_headers["kbridge-exhausted-condition"] == "non-retriable"
    assert fatal_headers["kbridge-attempts"] == "1"
    assert fatal_headers["kbridge-rule"] == "r1" and fatal_headers["kbridge-target"] == target
    assert fatal_headers["ce_type"] == "test.created"  # original headers kept
    assert fatal_msg.key() == b"k3" and b'"i":3' in fatal_msg.value()
    retried_headers, _ = by_id["evt-7"]
    assert retried_headers["kbridge-exhausted-condition"] == "attempts"
    assert retried_headers["kbridge-attempts"] == "3"  # first attempt + max_attempts=2 retries
    assert retried_headers["kbridge-error-message"] == "HTTP 500 from h"
    assert len(sink.delivered) == 80
    sample = registry.get_sample_value
    assert sample("kbridge_sink_events_delivered_total", {"target": target}) == 80
    assert (
        sample(
            "kbridge_sink_events_dead_lettered_total",
            {"target": target, "code": "http-500", "condition": "attempts"},
        )
        == 10
    )
    assert (
        sample("kbridge_sink_attempts_failed_total", {"target": target, "code": "http-500"}) == 30
    )
    assert sample("kbridge_sink_delivery_latency_seconds_count", {"target": target}) == 80
    assert committed(kafka, target) == end_offsets(kafka, target_topic(target))


async def test_long_backoff_pauses_only_that_partition(
    kafka_bootstrap: str, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    kafka, target, config = _setup(kafka_bootstrap, unique)
    slow_id = "evt-0"
    first_fail: dict[str, float] = {}

    def fail(d: Delivery, attempt: int) -> BaseException | None:
        if d.event_id == slow_id and attempt == 1:
            first_fail["at"] = time.monotonic()
            return BackpressureError("429", retry_after=5.0, code="http-429")
        return None

    sink = ListSink(fail)
    produce(kafka, target_topic(target), 1)  # evt-0 lands on one partition
    worker = SinkWorker(
        target, kafka=kafka, snapshot=lambda: config, settings=FAST, builder=lambda t, c: sink
    )
    caplog.set_level(logging.DEBUG, logger="processor.sinks.worker")
    async with running(worker):
        await until(lambda: "at" in first_fail, what="first failure")
        produce(kafka, target_topic(target), 200, start=1)
        # other partitions keep flowing while evt-0's partition waits out its Retry-After
        await until(lambda: len(sink.delivered) >= 100, timeout=4.0, what="other partitions")
        assert not any(d.event_id == slow_id for d in sink.delivered)  # still waiting
        await until(lambda: any(d.event_id == slow_id for d in sink.delivered), what="retry")
        await until(lambda: len(sink.delivered) >= 201, what="everything")
        # the poll loop resumes the partition on its next turn after the retry delivered:
        # wait for it rather than stop the worker first (a CI run did, once)
        await until(
            lambda: any(r.getMessage().startswith("resumed") for r in caplog.records),
            what="resume",
        )
    retried_at = next(i for i, d in enumerate(sink.delivered) if d.event_id == slow_id)
    assert retried_at > 0
    assert any(r.getMessage().startswith("paused") for r in caplog.records)


async def test_target_config_changes_apply_live(kafka_bootstrap: str, unique: str) -> None:
    kafka, target, config = _setup(kafka_bootstrap, unique)
    sinks: dict[str, ListSink] = {}

    def build(t: Any, c: SinkContext) -> Sink:
        sinks[t.label] = ListSink()
        return sinks[t.label]

    worker = SinkWorker(target, kafka=kafka, snapshot=lambda: config, settings=FAST, builder=build)
    async with running(worker):
        produce(kafka, target_topic(target), 30)
        await until(lambda: len(sinks.get("v1", ListSink()).delivered) == 30, what="v1")
        config.targets[target] = FakeTarget(target, label="v2")
        produce(kafka, target_topic(target), 30, start=30)
        await until(lambda: len(sinks.get("v2", ListSink()).delivered) == 30, what="v2")
    assert sinks["v1"].closed and sinks["v2"].closed
    assert {d.event_id for d in sinks["v2"].delivered} == {f"evt-{i}" for i in range(30, 60)}


async def test_stop_abandons_in_flight_batch_without_committing(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka, target, config = _setup(kafka_bootstrap, unique)
    slow = ListSink(delay=30.0)
    produce(kafka, target_topic(target), 90)
    worker = SinkWorker(
        target, kafka=kafka, snapshot=lambda: config, settings=FAST, builder=lambda t, c: slow
    )
    async with running(worker):
        await until(lambda: slow.calls > 0, what="a batch in flight")
    assert all(offset < 0 for offset in committed(kafka, target).values())  # nothing committed
    # the next owner of the group gets every record again
    fresh = ListSink()
    worker2 = SinkWorker(
        target, kafka=kafka, snapshot=lambda: config, settings=FAST, builder=lambda t, c: fresh
    )
    async with running(worker2):
        await until(lambda: len(fresh.delivered) >= 90, what="redelivery")
    assert {d.event_id for d in fresh.delivered} == {f"evt-{i}" for i in range(90)}


async def test_a_retrying_target_never_delays_another(kafka_bootstrap: str, unique: str) -> None:
    kafka, slow_target, config = _setup(kafka_bootstrap, unique)
    fast_target = f"fast-{unique}"
    make_topics(kafka, fast_target)
    config.targets[fast_target] = FakeTarget(fast_target)
    failing = ListSink(lambda d, n: RetriableError("down"), delay=0.5)
    fast = ListSink()
    workers = [
        SinkWorker(
            slow_target,
            kafka=kafka,
            snapshot=lambda: config,
            settings=FAST,
            builder=lambda t, c: failing,
        ),
        SinkWorker(
            fast_target,
            kafka=kafka,
            snapshot=lambda: config,
            settings=FAST,
            builder=lambda t, c: fast,
        ),
    ]
    async with running(workers[0]), running(workers[1]):
        produce(kafka, target_topic(slow_target), 300)
        await until(lambda: failing.calls > 2, what="slow target retrying")
        started = time.monotonic()
        produce(kafka, target_topic(fast_target), 300)
        await until(lambda: len(fast.delivered) >= 300, timeout=20, what="fast target")
        elapsed = time.monotonic() - started
    assert elapsed < 10.0
    assert not failing.delivered
    await asyncio.sleep(0)


async def test_two_workers_share_a_target_through_rebalances(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka, target, config = _setup(kafka_bootstrap, unique)
    config.targets[target] = FakeTarget(target, batch_size=10)
    first, second = ListSink(delay=0.1), ListSink(delay=0.1)  # ~300 events/s in all
    produce(kafka, target_topic(target), 300)
    w1 = SinkWorker(
        target, kafka=kafka, snapshot=lambda: config, settings=FAST, builder=lambda t, c: first
    )
    w2 = SinkWorker(
        target, kafka=kafka, snapshot=lambda: config, settings=FAST, builder=lambda t, c: second
    )
    async with running(w1):
        await until(lambda: len(first.delivered) >= 50, what="first worker started")
        async with running(w2):
            produce(kafka, target_topic(target), 300, start=300)
            await until(lambda: bool(second.delivered), what="the second worker's partitions")
            await until(
                lambda: len({d.event_id for d in first.delivered + second.delivered}) >= 600,
                what="600 distinct events",
            )
        # w2 left: w1 takes its partitions back and goes on
        produce(kafka, target_topic(target), 60, start=600)
        await until(
            lambda: len({d.event_id for d in first.delivered + second.delivered}) >= 660,
            what="after the second worker left",
        )
        ends = end_offsets(kafka, target_topic(target))
        await until(lambda: committed(kafka, target) == ends, timeout=30, what="all committed")
    assert second.delivered  # the second worker really got partitions
    ids = {d.event_id for d in first.delivered + second.delivered}
    assert ids == {f"evt-{i}" for i in range(660)}


async def test_structured_egress_reaches_sinks_in_binary_form(
    kafka_bootstrap: str, unique: str
) -> None:
    import orjson

    from processor.events.kafka import encode
    from processor.events.model import CloudEvent
    from processor.kafka import Producer

    kafka, target, config = _setup(kafka_bootstrap, unique)
    producer = Producer(kafka)
    originals = {}
    for i in range(10):
        event = CloudEvent(
            id=f"s-{i}",
            source="test.structured",
            type="t.s",
            data={"i": i},
            datacontenttype="application/json",
        )
        record = encode(event, "structured")
        headers = [*record.headers, ("kbridge-rule", b"r1")]
        originals[f"s-{i}"] = (record.value, headers)
        await producer.send(target_topic(target), record.value, key=record.key, headers=headers)
    producer.close()
    sink = ListSink(lambda d, n: FatalError("no") if d.event_id == "s-4" else None)
    worker = SinkWorker(
        target, kafka=kafka, snapshot=lambda: config, settings=FAST, builder=lambda t, c: sink
    )
    async with running(worker):
        await until(lambda: worker.delivered + worker.dead_lettered >= 10, what="settled")
    first = next(d for d in sink.delivered if d.event_id == "s-1")
    assert orjson.loads(first.value) == {"i": 1}
    assert first.headers["ce_source"] == "test.structured"
    assert first.headers["content-type"] == "application/json" and first.rule == "r1"
    [letter] = read_all(kafka, target_dlq_topic(target), 1)
    value, headers = originals["s-4"]
    assert letter.value() == value  # the dead letter is the record as it was consumed
    assert list(letter.headers())[: len(headers)] == headers


async def test_an_unexpected_error_retries_the_batch_instead_of_skipping_it(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka, target, config = _setup(kafka_bootstrap, unique)
    broken = {"left": 2}

    class Flaky(StaticConfig):
        def rule(self, name: str) -> Any:
            if broken["left"] > 0:
                broken["left"] -= 1
                raise RuntimeError("config lookup bug")
            return super().rule(name)

    flaky = Flaky(targets=config.targets, rules=config.rules)
    sink = ListSink(lambda d, n: RetriableError("once") if n == 1 and d.offset == 0 else None)
    produce(kafka, target_topic(target), 60)
    worker = SinkWorker(
        target, kafka=kafka, snapshot=lambda: flaky, settings=FAST, builder=lambda t, c: sink
    )
    async with running(worker):
        await until(lambda: worker.delivered >= 60, what="all delivered after the bug")
        ends = end_offsets(kafka, target_topic(target))
        await until(lambda: committed(kafka, target) == ends, what="commits")
    assert broken["left"] == 0
    assert {d.event_id for d in sink.delivered} == {f"evt-{i}" for i in range(60)}
