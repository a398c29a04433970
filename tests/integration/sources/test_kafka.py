"""Kafka source: another cluster's topic (here the test cluster itself) into a bus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka import Producer as RdProducer

from processor.config.sources import KafkaSource as KafkaConfig
from processor.kafka.admin import TopicSpec, delete_topics, ensure_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.producer import Producer
from processor.kafka.topics import bus_dlq_topic, bus_topic
from processor.sources.kafka import KafkaSource

pytestmark = [pytest.mark.kafka]


@pytest.fixture
def upstream(kafka_config: KafkaClientConfig, unique: str) -> Iterator[str]:
    name = f"upstream-{unique}"
    ensure_topics(kafka_config, [TopicSpec(name, partitions=2)])
    yield name
    delete_topics(kafka_config, [name])


def produce(config: KafkaClientConfig, topic: str, records: list[dict[str, Any]]) -> None:
    """Publish like any Kafka client would (kcat, Connect): plain records with headers."""
    producer = RdProducer(config.librdkafka())
    for record in records:
        producer.produce(topic, **record)
    assert producer.flush(30) == 0


def committed(config: KafkaClientConfig, group: str, topic: str) -> int:
    consumer = Consumer(config.librdkafka(**{"group.id": group}))
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
        return sum(max(tp.offset, 0) for tp in offsets)
    finally:
        consumer.close()


async def test_records_republished_as_cloudevents_and_committed_after_ack(
    kafka_config: KafkaClientConfig,
    upstream: str,
    bus: str,
    unique: str,
    producer: Producer,
    reader: Any,
    running: Any,
) -> None:
    ingress, dlq = reader(bus_topic(bus)), reader(bus_dlq_topic(bus))
    plain = [
        {"key": b"device-1", "value": json.dumps({"n": i}).encode(), "partition": 0}
        for i in range(30)
    ]
    cloudevent = {
        "key": b"k",
        "value": b'{"x": 1}',
        "partition": 1,
        "headers": [
            ("ce_specversion", b"1.0"),
            ("ce_id", b"evt-1"),
            ("ce_source", b"legacy.app"),
            ("ce_type", b"order.created"),
            ("ce_traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            ("content-type", b"application/json"),
        ],
    }
    broken = {
        "value": b"{}",
        "partition": 1,
        "headers": [("ce_specversion", b"1.0"), ("ce_source", b"x"), ("ce_type", b"t")],
    }
    produce(kafka_config, upstream, [*plain, cloudevent, broken])
    config = KafkaConfig(
        name=f"kafka-{unique}",
        bus=bus,
        cluster=kafka_config,
        topics=[upstream],
        group_id=f"g-{unique}",
        allow_private_network=True,  # the test cluster is on loopback (SSRF guard)
    )
    async with running(KafkaSource(config, producer)):
        await ingress.wait_for(31)
        await dlq.wait_for(1)
    assert committed(kafka_config, f"g-{unique}", upstream) == 32

    events = ingress.events()
    wrapped = [e for e in events if e.type == "kafka.record"]
    assert [e.data["n"] for e in wrapped] == list(range(30))
    assert wrapped[0].id == f"{upstream}-0-0"
    assert wrapped[0].source == f"kafka://{kafka_config.bootstrap_servers}/{upstream}"
    assert {e.subject for e in wrapped} == {"device-1"}
    [kept] = [m for m in ingress.messages if m.key() == b"k"]
    assert kept.headers()[:6] == cloudevent["headers"]
    [kept_event] = [e for e in events if e.type == "order.created"]
    assert kept_event.extensions["traceparent"].startswith("00-4bf92f")
    [dead] = dlq.messages
    assert dict(dead.headers())["kbridge-error-code"] == b"invalid-event"
    assert dict(dead.headers())["kbridge-original-offset"] == f"{upstream}[1]@1".encode()

    # a clean restart resumes after the committed offsets: only new records arrive
    produce(kafka_config, upstream, [{"key": b"device-2", "value": b"[1]", "partition": 0}])
    async with running(KafkaSource(config, producer)):
        await ingress.wait_for(32)
        await ingress.settle(2.0)
    assert len(ingress.messages) == 32
    assert ingress.events()[-1].data == [1]
