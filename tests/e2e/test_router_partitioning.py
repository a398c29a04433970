"""Every producer path places a key where the Java client does (issue 21 item 3).

The expected partition is computed here from the definition of Kafka's default
partitioner: ``toPositive(Utils.murmur2(key)) % numPartitions`` (apache/kafka,
clients/src/main/java/org/apache/kafka/common/utils/Utils.java ``murmur2`` and
``toPositive``; clients/.../producer/internals/BuiltInPartitioner.java
``partitionForKey``). Each path really produces to a real topic and the partition comes
back from the broker's acknowledgement or from the routed egress record.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from processor.gateway.app import gateway_producer_overrides
from processor.kafka import KafkaClientConfig, Producer
from processor.kafka.admin import TopicSpec, ensure_topics
from processor.router.engines.native import NativeRouter
from processor.router.live import LiveTable
from processor.settings import Settings
from tests.support.kbridge import Kbridge, read_topic

pytestmark = [pytest.mark.kafka]

PARTITIONS = 6
KEYS = [b"host-%d" % i for i in range(16)] + [b"21", b"foobar", b"abc", b"a-little-bit-long-string"]


def java_murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` as the Java client computes it (signed 32-bit result)."""
    mask = 0xFFFFFFFF
    seed, m, r = 0x9747B28C, 0x5BD1E995, 24
    length = len(data)
    h = (seed ^ length) & mask
    for i in range(length // 4):
        k = int.from_bytes(data[i * 4 : i * 4 + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail = length & ~3
    rest = length % 4
    if rest >= 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key: bytes, partitions: int = PARTITIONS) -> int:
    """``Utils.toPositive(Utils.murmur2(key)) % numPartitions``."""
    return (java_murmur2(key) & 0x7FFFFFFF) % partitions


def test_the_hash_is_kafkas() -> None:
    # apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java
    # testMurmur2: the Java client's own expected values
    assert java_murmur2(b"21") == -973932308
    assert java_murmur2(b"foobar") == -790332482
    assert java_murmur2(b"a-little-bit-long-string") == -985981536
    assert java_murmur2(b"a-little-bit-longer-string") == -1486304829
    assert java_murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert java_murmur2(b"abc") == 479470107


def _acked_partitions(producer: Producer, topic: str) -> dict[bytes, int]:
    placed: dict[bytes, int] = {}
    for key in KEYS:
        partition, _offset = producer.send_and_wait(topic, b"{}", key)
        placed[key] = partition
    producer.close()
    return placed


def test_librdkafka_paths_place_keys_like_java(kafka_bootstrap: str, unique: str) -> None:
    """The shared producer (sinks, sources, replay), the gateway's and the native router's."""
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    topic = f"parts-{unique}"
    ensure_topics(kafka, [TopicSpec(topic, PARTITIONS)])
    expected = {key: java_partition(key) for key in KEYS}
    assert len(set(expected.values())) > 1

    assert _acked_partitions(Producer(kafka), topic) == expected
    gateway = Producer(kafka, **gateway_producer_overrides(Settings()))
    assert _acked_partitions(gateway, topic) == expected

    native = NativeRouter(kafka, LiveTable())._producer()
    placed: dict[bytes, int] = {}
    for key in KEYS:
        native.produce(
            topic,
            b"{}",
            key,
            on_delivery=lambda err, msg, key=key: placed.__setitem__(key, msg.partition()),
        )
    assert native.flush(30) == 0
    assert placed == expected


def test_aiokafka_faust_path_places_keys_like_java(kafka_bootstrap: str, unique: str) -> None:
    """Faust sends through aiokafka's default partitioner."""
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    topic = f"parts-aio-{unique}"
    ensure_topics(kafka, [TopicSpec(topic, PARTITIONS)])

    async def produce() -> dict[bytes, int]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            return {
                key: (await producer.send_and_wait(topic, b"{}", key=key)).partition
                for key in KEYS
            }
        finally:
            await producer.stop()

    assert asyncio.run(produce()) == {key: java_partition(key) for key in KEYS}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["native", "faust"])
def test_both_engines_route_a_key_to_the_java_partition(kbridge: Kbridge, engine: str) -> None:
    """Routed egress records (keyed by the ingress key) land where Java would put them."""
    u = kbridge.unique
    kbridge.apply(
        f"""
buses: [{{name: keys-{u}, partitions: 3}}]
targets: [{{name: out-{u}, kind: kafka, topic: "x-{u}", partitions: {PARTITIONS}}}]
rules:
  - name: all-{u}
    bus: keys-{u}
    pattern: {{source: [{{prefix: "k"}}]}}
    targets: [{{target: out-{u}}}]
"""
    )
    producer = Producer(KafkaClientConfig(bootstrap_servers=kbridge.bootstrap))
    records = [
        (
            f"kbridge.bus.keys-{u}",
            b"{}",
            key,
            [
                ("ce_specversion", b"1.0"),
                ("ce_id", key),
                ("ce_source", b"k.test"),
                ("ce_type", b"t"),
                ("content-type", b"application/json"),
            ],
        )
        for key in KEYS
    ]
    assert producer.send_batch(records).count(None) == len(KEYS)
    producer.close()
    kbridge.start("router", "--engine", engine, "--group-id", f"keys-{u}", name="router")
    egress = read_topic(kbridge.bootstrap, f"kbridge.target.out-{u}", len(KEYS), timeout=90)
    assert {m.key(): m.partition() for m in egress} == {key: java_partition(key) for key in KEYS}
