"""A 3-node KRaft cluster from deploy/kafka/kafka.sh survives the loss of one broker.

The cluster runs on its own ports (19092-19094) and data folder, next to the single-node
broker the rest of the suite uses. With 3 nodes, topics default to replication factor 3 and
min.insync.replicas 2, so acks=all producing keeps working with one broker down.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from processor.kafka import KafkaClientConfig, Producer, TopicSpec, ensure_topics, make_consumer
from processor.kafka.admin import admin_client

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

KAFKA_SH = Path(__file__).parents[3] / "deploy" / "kafka" / "kafka.sh"
BOOTSTRAP = "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"


def run(args: list[str], home: Path, **env: str) -> None:
    subprocess.run(
        ["bash", str(KAFKA_SH), *args],
        env={**os.environ, "KBRIDGE_KAFKA_HOME": str(home), **env},
        check=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("kafka3")
    run(["start", "--nodes", "3"], home)
    try:
        yield home
    finally:
        run(["kill"], home)  # thrown away: a graceful stop of three nodes takes ~35 s


def test_rf3_topic_survives_one_broker_down(cluster: Path, unique: str) -> None:
    config = KafkaClientConfig(bootstrap_servers=BOOTSTRAP)
    topic = f"test.rf3.{unique}"
    ensure_topics(config, [TopicSpec(topic, partitions=3)])
    admin = admin_client(config)
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    assert all(len(p.replicas) == 3 for p in partitions.values())

    producer = Producer(config)
    first = producer.send_batch([(topic, b"a%d" % i, None, None) for i in range(500)])
    assert first.count(None) == 500

    run(["stop-node"], cluster, NODE_ID="2")
    second = producer.send_batch([(topic, b"b%d" % i, None, None) for i in range(500)])
    producer.close()
    acknowledged = {
        value
        for outcome, value in zip(
            first + second,
            [b"a%d" % i for i in range(500)] + [b"b%d" % i for i in range(500)],
            strict=True,
        )
        if outcome is None
    }
    assert len(acknowledged) == 1000  # min.insync.replicas=2 still met with 2 of 3 brokers

    consumer = make_consumer(config, f"g-{unique}")
    consumer.subscribe([topic])
    seen: set[bytes] = set()
    for _ in range(60):
        for msg in consumer.consume(1000, timeout=1.0):
            if msg.error() is None:
                seen.add(msg.value() or b"")
        if acknowledged <= seen:
            break
    consumer.close()
    assert acknowledged <= seen
