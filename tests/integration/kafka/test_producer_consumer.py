"""The acks=all producer wrapper, consumer factory and topic creation against the real broker."""

from __future__ import annotations

import asyncio

import pytest

from processor.kafka import KafkaClientConfig, Producer, TopicSpec, ensure_topics, make_consumer
from processor.kafka.admin import admin_client

pytestmark = pytest.mark.kafka


def consume_all(config: KafkaClientConfig, topic: str, group: str, expected: int) -> list[bytes]:
    """Read ``expected`` records through a consumer group, committing as we go."""
    consumer = make_consumer(config, group)
    consumer.subscribe([topic])
    values: list[bytes] = []
    idle = 0
    try:
        while len(values) < expected and idle < 20:
            batch = consumer.consume(1000, timeout=1.0)
            idle = idle + 1 if not batch else 0
            for msg in batch:
                assert msg.error() is None, msg.error()
                values.append(msg.value() or b"")
                consumer.store_offsets(msg)
            if batch:
                consumer.commit(asynchronous=False)
        # nothing more arrives after the expected count
        extra = consumer.consume(100, timeout=2.0)
        values.extend(m.value() or b"" for m in extra if m.error() is None)
    finally:
        consumer.close()
    return values


def test_ten_thousand_events_round_trip_exactly_once(kafka_bootstrap: str, unique: str) -> None:
    config = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    topic = f"test.roundtrip.{unique}"
    ensure_topics(config, [TopicSpec(topic, partitions=4)])
    producer = Producer(config)
    records = [
        (topic, b'{"n":%d}' % i, str(i % 97).encode(), [("ce_id", str(i).encode())])
        for i in range(10_000)
    ]
    outcomes = producer.send_batch(records)
    producer.close()
    assert outcomes.count(None) == 10_000

    values = consume_all(config, topic, f"g-{unique}", 10_000)
    assert len(values) == 10_000
    assert sorted(values) == sorted(r[1] for r in records)

    # a second consumer in the same group sees nothing: offsets were committed
    assert consume_all(config, topic, f"g-{unique}", 0) == []


def test_async_send_returns_partition_and_offset(kafka_bootstrap: str, unique: str) -> None:
    config = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    topic = f"test.async.{unique}"
    ensure_topics(config, [TopicSpec(topic, partitions=1)])
    producer = Producer(config)

    async def send_three() -> list[tuple[int, int]]:
        return [await producer.send(topic, b"v%d" % i, b"k") for i in range(3)]

    acks = asyncio.run(send_three())
    producer.close()
    assert acks == [(0, 0), (0, 1), (0, 2)]


def test_send_to_missing_topic_raises_instead_of_hanging(kafka_bootstrap: str, unique: str) -> None:
    config = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    producer = Producer(config, **{"message.timeout.ms": 3000})
    with pytest.raises(Exception, match="did not acknowledge"):
        producer.send_and_wait(f"test.missing.{unique}", b"x", timeout=10)
    producer.close()


def test_topic_creation_is_idempotent(kafka_bootstrap: str, unique: str) -> None:
    config = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    specs = [
        TopicSpec(f"test.idem.{unique}", partitions=6),
        TopicSpec.compacted(f"test.cmp.{unique}"),
    ]
    assert sorted(ensure_topics(config, specs)) == sorted(s.name for s in specs)
    assert ensure_topics(config, specs) == []
    metadata = admin_client(config).list_topics(timeout=10)
    assert len(metadata.topics[f"test.idem.{unique}"].partitions) == 6
    from confluent_kafka.admin import ConfigResource

    resource = ConfigResource("topic", f"test.cmp.{unique}")
    admin = admin_client(config)  # keep the handle alive until the result arrives
    configs = admin.describe_configs([resource])[resource].result()
    assert configs["cleanup.policy"].value == "compact"
