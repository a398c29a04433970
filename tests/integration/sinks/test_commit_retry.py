"""Offset commits survive a broker outage without duplicates (issue 21 item 6).

The worker keeps delivering records it had already fetched while its only broker (a
private kafka.sh node) is stopped, so every commit in that window has no coordinator; once
the broker is back the group's offsets reach the end without a restart, and a second worker
in the same group gets nothing again. librdkafka often holds a synchronous commit until the
coordinator returns, and sometimes fails it at once (``_WAIT_COORD``, ``NOT_COORDINATOR``,
timeouts): the failing case used to be dropped and is now retried (the retry itself is
unit-tested with scripted errors in ``tests/unit/sinks/test_commits.py``; this test guards
the whole path against a real outage).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sink_support import StaticConfig, committed, make_topics, produce, running, until

from processor.kafka import KafkaClientConfig
from processor.kafka.topics import target_topic
from processor.sinks.base import Delivery, DeliveryOutcome
from processor.sinks.testing import ListSink
from processor.sinks.worker import SinkWorker, WorkerSettings
from tests.support.private_kafka import PrivateKafka, private_kafka  # noqa: F401

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


class GatedSink(ListSink):
    """Delivers the first ``free`` records at once, the rest only after ``gate`` is set."""

    def __init__(self, free: int) -> None:
        super().__init__()
        self.free = free
        self.gate = asyncio.Event()

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[DeliveryOutcome]:
        if batch and batch[-1].offset >= self.free:
            await self.gate.wait()
        return await super().deliver(batch)


async def test_commits_failing_during_a_broker_outage_are_retried_not_dropped(
    private_kafka: PrivateKafka,  # noqa: F811
    unique: str,
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=private_kafka.bootstrap)
    target = f"commits-{unique}"
    make_topics(kafka, target, partitions=1)
    config = StaticConfig(targets={target: type("T", (), {"kind": "list", "batch_size": 5})()})
    config.add_rule("r1", target)
    produce(kafka, target_topic(target), 60)
    sink = GatedSink(free=10)
    # a session longer than the broker's restart: the group keeps its member, only the
    # coordinator is gone for a while (what losing the coordinator's broker looks like)
    settings = WorkerSettings(
        poll_timeout=0.1, batch_size=5, consumer_overrides={"session.timeout.ms": 120_000}
    )
    worker = SinkWorker(
        target, kafka=kafka, snapshot=lambda: config, settings=settings, builder=lambda t, c: sink
    )
    async with running(worker):
        await until(lambda: worker.committed.get((target_topic(target), 0)) == 10, what="commit")
        await asyncio.to_thread(private_kafka.run, "stop")
        sink.gate.set()  # the remaining 50 (already fetched) are delivered while it is down
        await until(lambda: len(sink.delivered) >= 60, what="deliveries while down")
        await asyncio.sleep(2.0)  # commits fail meanwhile
        assert worker.committed[(target_topic(target), 0)] == 10
        await asyncio.to_thread(private_kafka.run, "start")
        await until(
            lambda: worker.committed.get((target_topic(target), 0)) == 60,
            timeout=120,
            what="the failed commit retried after the broker's return",
        )
    assert committed(kafka, target, partitions=1) == {0: 60}
    assert sorted(d.offset for d in sink.delivered) == list(range(60))
    # the same group again: nothing is redelivered
    again = ListSink()
    worker2 = SinkWorker(
        target, kafka=kafka, snapshot=lambda: config, settings=settings, builder=lambda t, c: again
    )
    produce(kafka, target_topic(target), 1, start=60)
    async with running(worker2):
        await until(lambda: len(again.delivered) >= 1, timeout=60, what="the new record")
        await asyncio.sleep(1.0)
    assert [d.event_id for d in again.delivered] == ["evt-60"]  # zero duplicates
