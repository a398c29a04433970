"""A real gateway (uvicorn in a thread) against the real broker, and a reader of its topics."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Message
from gateway_harness import ReadBack

from processor.kafka.admin import TopicSpec, delete_topics, ensure_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.consumer import make_consumer
from processor.kafka.topics import bus_topic
from processor.settings import Settings


@pytest.fixture
def gateway_settings(kafka_bootstrap: str) -> Settings:
    """Settings pointing at the test broker."""
    return Settings(kafka=KafkaClientConfig(bootstrap_servers=kafka_bootstrap))


@pytest.fixture
def gateway_bus(gateway_settings: Settings, unique: str) -> Iterator[str]:
    """A unique bus whose ingress topic exists (deleted afterwards)."""
    bus = f"gw-{unique}"
    ensure_topics(gateway_settings.kafka, [TopicSpec(bus_topic(bus), partitions=3)])
    yield bus
    delete_topics(gateway_settings.kafka, [bus_topic(bus)])


@pytest.fixture
def read_back(gateway_settings: Settings, unique: str) -> ReadBack:
    """``read_back(topic, n)``: the first ``n`` records of ``topic`` (fails after 30 s)."""

    def read(topic: str, count: int) -> list[Message]:
        consumer = make_consumer(
            gateway_settings.kafka,
            f"gw-test-{unique}-{topic}",
            **{"auto.offset.reset": "earliest", "enable.auto.commit": False},
        )
        consumer.subscribe([topic])
        records: list[Message] = []
        deadline = time.monotonic() + 30
        try:
            while len(records) < count and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None or message.error() is not None:
                    continue
                records.append(message)
            # Anything beyond ``count`` would be a duplicate or a half-produced batch.
            extra = consumer.poll(1.0)
            assert extra is None or extra.error() is not None, "more records than expected"
        finally:
            consumer.close()
        assert len(records) == count, f"read {len(records)} of {count} records from {topic}"
        return records

    return read
