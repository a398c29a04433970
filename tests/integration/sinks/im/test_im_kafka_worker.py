"""An alarm storm through the real sink worker and Kafka reaches DingTalk as a few digests.

The whole delivery path of the "message push" scenario after the router: egress topic on the
real broker, ``SinkWorker`` (one task per partition), the DingTalk sink in digest mode with
the system clock, and the local robot checking every signature. Offsets must be committed
only once the digests were accepted.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from im_platforms import DingTalkServer
from pydantic import SecretStr

from processor.config.targets import Digest, DingtalkTarget
from processor.kafka import KafkaClientConfig, Producer, TopicSpec, ensure_topics
from processor.kafka.admin import delete_topics
from processor.kafka.topics import target_dlq_topic, target_topic
from processor.sinks.worker import SinkWorker, WorkerSettings

pytestmark = pytest.mark.kafka

EVENTS = 60
PARTITIONS = 3


class Snapshot:
    """The config view the worker reads: just this target, default retry policy."""

    def __init__(self, target: DingtalkTarget) -> None:
        self._target = target

    def target(self, name: str) -> Any:
        return self._target if name == self._target.name else None

    def connection(self, name: str) -> Any:
        return None

    def rule(self, name: str) -> Any:
        return None


def produce_alarms(kafka: KafkaClientConfig, topic: str) -> None:
    producer = Producer(kafka)
    records = [
        (
            topic,
            f"### CPU alarm\n- host: db-{i}\n- value: 99%".encode(),
            f"db-{i}".encode(),
            [
                ("ce_id", f"alarm-{i}".encode()),
                ("ce_type", b"cms.alarm.critical"),
                ("ce_source", b"cloud.monitor"),
                ("kbridge-rule", b"prod-critical"),
                ("content-type", b"text/markdown"),
            ],
        )
        for i in range(EVENTS)
    ]
    try:
        assert producer.send_batch(records) == [None] * EVENTS
    finally:
        producer.close()


def digest_counts(server: DingTalkServer) -> list[int]:
    counts = []
    for request in server.received:
        match = re.search(r"kbridge digest: (\d+) event", request.json()["markdown"]["text"])
        counts.append(int(match.group(1)) if match else 1)
    return counts


async def test_alarm_storm_becomes_a_few_signed_digests(
    kafka_bootstrap: str, unique: str, dingtalk_server: DingTalkServer
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    name = f"im-ding-{unique}"
    topics = [target_topic(name), target_dlq_topic(name)]
    ensure_topics(kafka, [TopicSpec(topics[0], PARTITIONS), TopicSpec(topics[1], 1)])
    try:
        produce_alarms(kafka, topics[0])
        assert dingtalk_server.secret is not None
        target = DingtalkTarget(
            name=name,
            url=dingtalk_server.url,
            secret=SecretStr(dingtalk_server.secret),
            allow_private_network=True,
            title="Critical alarms",
            digest=Digest(window_seconds=1.0, max_items=3),
        )
        worker = SinkWorker(
            name,
            kafka=kafka,
            snapshot=lambda: Snapshot(target),
            settings=WorkerSettings(poll_timeout=0.1, linger=0.0),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + 60
        try:
            while sum(worker.committed.values()) < EVENTS:
                assert time.monotonic() < deadline, (
                    worker.committed,
                    digest_counts(dingtalk_server),
                )
                assert not task.done(), task
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
        counts = digest_counts(dingtalk_server)
        assert sum(counts) == EVENTS  # every alarm is counted in exactly one digest
        assert len(counts) <= 2 * PARTITIONS  # a storm became a few messages
        assert worker.dead_lettered == 0 and dingtalk_server.violations == []
    finally:
        delete_topics(kafka, topics)
