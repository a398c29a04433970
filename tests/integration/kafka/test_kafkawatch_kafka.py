"""KafkaWatch against a real broker: readiness follows what Kafka answers.

The probe is a cluster description (not a metadata request for every topic), so it must
still tell a live broker from a dead port, and see the process's consumer group join.
"""

from __future__ import annotations

import socket
import time

import pytest
from confluent_kafka import Consumer

from processor.kafka import KafkaClientConfig, TopicSpec, ensure_topics
from processor.observability.kafkawatch import KafkaWatch

pytestmark = pytest.mark.kafka


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_live_broker_answers_and_the_joined_group_is_seen(
    kafka_bootstrap: str, unique: str
) -> None:
    group = f"watch-{unique}"
    config = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    ensure_topics(config, [TopicSpec(f"watch-{unique}", 1)])
    consumer = Consumer(
        {"bootstrap.servers": kafka_bootstrap, "group.id": group, "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([f"watch-{unique}"])
    try:
        watch = KafkaWatch(config, group=group)
        assert watch.kafka_check() is not None  # not ready before the first answer
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            consumer.poll(0.2)
            watch.probe_once()
            if watch.group_check() is None:
                break
        assert watch.kafka_check() is None
        assert watch.group_check() is None
        assert watch.group_view is not None and watch.group_view.members == 1
    finally:
        consumer.close()


def test_a_dead_port_never_counts_as_an_answer() -> None:
    config = KafkaClientConfig(bootstrap_servers=f"127.0.0.1:{dead_port()}")
    watch = KafkaWatch(config, interval=0.5)
    watch.probe_once()
    assert watch.last_answer is None
    assert watch.kafka_check() == f"Kafka at {config.bootstrap_servers} has not answered yet"
