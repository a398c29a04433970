"""Several targets in one sink process (``kbridge sink --all``), against the real broker.

Each target runs its own :class:`SinkWorker` (own consumer group, retries, concurrency) under
:class:`MultiSink`, which follows a live configuration topic; the workers share one producer,
as ``kbridge sink --all`` does. Checked here: a target whose HTTP endpoint hangs does not
slow another target of the same process; targets added to or deleted from the live
configuration get a worker or lose theirs without a restart (and a stopped worker commits
what it delivered); a target whose endpoint rejects everything dead-letters into its own
dead-letter topic only. tests/e2e/test_sink_multi.py runs the same through the
``kbridge sink --all`` process; this one is in-process, so latency is measured finely (from
Kafka's ack to the receiver, 2 ms steps) and the state of each worker can be checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from sink_support import (
    FAST,
    Receiver,
    committed,
    end_offsets,
    make_topics,
    produce,
    read_all,
    receiver,
    until,
)

from processor.config.publish import delete_object, publish_object
from processor.config.store import ConfigStore
from processor.config.targets import WebhookTarget
from processor.kafka import KafkaClientConfig, Producer
from processor.kafka.topics import target_dlq_topic, target_topic
from processor.sinks.multi import MultiSink, TargetSelection
from processor.sinks.worker import SinkWorker

pytestmark = pytest.mark.kafka

log = logging.getLogger(__name__)


@contextlib.contextmanager
def live_store(kafka: KafkaClientConfig, topic: str) -> Iterator[ConfigStore]:
    store = ConfigStore(kafka, topic=topic)
    store.start()
    try:
        assert store.wait_until_caught_up(30)
        yield store
    finally:
        store.stop()


@contextlib.asynccontextmanager
async def multi_sink(
    kafka: KafkaClientConfig, store: ConfigStore, selection: TargetSelection
) -> AsyncIterator[MultiSink]:
    """A MultiSink as ``kbridge sink --all`` runs it (real workers, topics made first)."""

    producer = Producer(kafka)  # shared by every worker, as kbridge sink --all does

    async def start_worker(name: str, stop: asyncio.Event) -> None:
        worker = SinkWorker(
            name, kafka=kafka, snapshot=store.snapshot, settings=FAST, producer=producer
        )
        await worker.run(stop)

    multi = MultiSink(
        selection,
        store.snapshot,
        start_worker,
        prepare=lambda name: make_topics(kafka, name),
        interval=0.2,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(multi.run(stop))
    try:
        yield multi
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        producer.close(10.0)


def publish_webhook(kafka: KafkaClientConfig, topic: str, name: str, url: str) -> None:
    publish_object(
        kafka,
        WebhookTarget(name=name, url=url, allow_private_network=True, timeout=30.0),
        topic=topic,
    )


async def latencies(kafka: KafkaClientConfig, target: str, sink: Receiver, n: int) -> list[float]:
    """Produce ``n`` events one at a time; seconds from Kafka's ack to the receiver having it."""
    start_at = len(sink.accepted)
    out: list[float] = []
    producer = Producer(kafka)  # one for the series: a fresh one's first send takes ~0.5 s
    try:
        for i in range(n):
            produce(kafka, target_topic(target), 1, start=start_at + i, producer=producer)
            before = time.monotonic()  # acked by Kafka: from here on it is the sink's time
            deadline = before + 30
            while len(sink.accepted) <= start_at + i:  # finer than until()'s 50 ms steps
                assert time.monotonic() < deadline, f"event {i} of {target} not delivered"
                await asyncio.sleep(0.002)
            out.append(time.monotonic() - before)
    finally:
        producer.close()
    return out


async def burst(kafka: KafkaClientConfig, target: str, sink: Receiver, n: int) -> float:
    """Seconds to deliver a burst of ``n`` events (the target's throughput)."""
    start_at = len(sink.accepted)
    before = time.monotonic()
    produce(kafka, target_topic(target), n, start=start_at)
    await until(lambda: len(sink.accepted) >= start_at + n, 60, f"burst of {target}")
    return time.monotonic() - before


@pytest.mark.slow  # about 8 s: two latency series and two bursts
async def test_a_hanging_target_does_not_delay_another_in_the_same_process(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    rules_topic = f"kbridge.rules.test-{unique}"
    fast, slow = f"fast-{unique}", f"slow-{unique}"
    release = threading.Event()
    hanging = threading.Event()

    def hang(
        r: Receiver, handler: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if hanging.is_set():
            release.wait(60)  # the endpoint accepts the connection and never answers
        return 200, {}, b""

    with receiver() as fast_sink, receiver(hang) as slow_sink:
        publish_webhook(kafka, rules_topic, fast, fast_sink.url)
        publish_webhook(kafka, rules_topic, slow, slow_sink.url)
        with live_store(kafka, rules_topic) as store:
            async with multi_sink(kafka, store, TargetSelection.of(every=True)) as multi:
                await until(lambda: set(multi.running) == {fast, slow}, 60, "both workers")
                # warm up both (group join, connections), then the baseline: slow is healthy
                await latencies(kafka, fast, fast_sink, 3)
                await latencies(kafka, slow, slow_sink, 3)
                base_latency = await latencies(kafka, fast, fast_sink, 15)
                base_burst = await burst(kafka, fast, fast_sink, 300)

                hanging.set()  # now slow's endpoint hangs, with a backlog of its own
                produce(kafka, target_topic(slow), 200, start=100)
                await until(lambda: len(slow_sink.requests) > 3, 30, "slow receiving")
                hung_latency = await latencies(kafka, fast, fast_sink, 15)
                hung_burst = await burst(kafka, fast, fast_sink, 300)
                assert len(slow_sink.accepted) == 3  # nothing of the hung backlog delivered
                release.set()
    base_p50, hung_p50 = statistics.median(base_latency), statistics.median(hung_latency)
    log.info(
        "fast target beside a healthy / a hanging one: p50 %.1f / %.1f ms, 300 events in "
        "%.2f / %.2f s",
        base_p50 * 1000,
        hung_p50 * 1000,
        base_burst,
        hung_burst,
    )
    # "within noise" on a shared 2-core machine: medians within 2x plus 50 ms, and the
    # burst of 300 events within 2x plus half a second of the baseline measured just before
    assert hung_p50 <= 2 * base_p50 + 0.05, (base_latency, hung_latency)
    assert hung_burst <= 2 * base_burst + 0.5, (base_burst, hung_burst)
    assert len(fast_sink.accepted) == 3 + 15 + 300 + 15 + 300


async def test_targets_added_and_deleted_live_get_and_lose_their_worker(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    rules_topic = f"kbridge.rules.test-{unique}"
    first, added = f"first-{unique}", f"added-{unique}"
    with receiver() as first_sink, receiver() as added_sink:
        publish_webhook(kafka, rules_topic, first, first_sink.url)
        with live_store(kafka, rules_topic) as store:
            selection = TargetSelection.of(kinds=["webhook"])
            async with multi_sink(kafka, store, selection) as multi:
                await until(lambda: set(multi.running) == {first}, 60, "first worker")
                produce(kafka, target_topic(first), 10)
                await until(lambda: len(first_sink.accepted) == 10, 60, "first delivered")

                publish_webhook(kafka, rules_topic, added, added_sink.url)  # no restart
                await until(lambda: set(multi.running) == {first, added}, 60, "added worker")
                first_task = multi.running[first].task
                produce(kafka, target_topic(added), 10)
                await until(lambda: len(added_sink.accepted) == 10, 60, "added delivered")

                delete_object(kafka, "target", first, topic=rules_topic)
                await until(lambda: set(multi.running) == {added}, 60, "first stopped")
                await until(first_task.done, 30, "first worker finished")
                assert first_task.exception() is None
                # the stopped worker committed what it delivered before leaving its group
                assert committed(kafka, first) == end_offsets(kafka, target_topic(first))
                produce(kafka, target_topic(first), 5, start=10)  # nobody consumes these now

                # the remaining target keeps delivering; the deleted one's records stay
                produce(kafka, target_topic(added), 10, start=10)
                await until(lambda: len(added_sink.accepted) == 20, 60, "added still delivers")
                await asyncio.sleep(1.0)
                assert len(first_sink.accepted) == 10
    assert set(added_sink.accepted) == {f"evt-{i}" for i in range(20)}
    assert set(first_sink.accepted) == {f"evt-{i}" for i in range(10)}


async def test_a_rejecting_target_dead_letters_through_the_shared_producer_alone(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    rules_topic = f"kbridge.rules.test-{unique}"
    good, bad = f"good-{unique}", f"bad-{unique}"

    def reject(
        r: Receiver, handler: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        return 400, {}, b"bad request"  # not retried: straight to the dead-letter topic

    with receiver() as good_sink, receiver(reject) as bad_sink:
        publish_webhook(kafka, rules_topic, good, good_sink.url)
        publish_webhook(kafka, rules_topic, bad, bad_sink.url)
        with live_store(kafka, rules_topic) as store:
            selection = TargetSelection.of([good, bad])  # --target good --target bad
            async with multi_sink(kafka, store, selection) as multi:
                await until(lambda: set(multi.running) == {good, bad}, 60, "both workers")
                produce(kafka, target_topic(bad), 20)
                produce(kafka, target_topic(good), 20)
                await until(lambda: len(good_sink.accepted) == 20, 60, "good delivered")
                await until(
                    lambda: committed(kafka, bad) == end_offsets(kafka, target_topic(bad)),
                    60,
                    "bad's dead letters acknowledged and its offsets committed",
                )
    dead = read_all(kafka, target_dlq_topic(bad), 20, timeout=30)
    headers = [{k: v.decode() for k, v in m.headers() or []} for m in dead]
    assert {h["ce_id"] for h in headers} == {f"evt-{i}" for i in range(20)}
    assert {h["kbridge-error-code"] for h in headers} == {"http-400"}
    assert read_all(kafka, target_dlq_topic(good), 0, timeout=2) == []
    assert len(bad_sink.accepted) == 0
