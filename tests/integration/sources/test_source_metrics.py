"""Source metrics (issue 17 item 2): a Kafka source's upstream lag while its bus cannot take
events, zero once they are published; the collector's published count and state."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer as RdProducer
from prometheus_client import CollectorRegistry

from processor.config.sources import KafkaSource as KafkaConfig
from processor.kafka.admin import TopicSpec, delete_topics, ensure_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.producer import Producer
from processor.sources.kafka import KafkaSource
from processor.sources.metrics import register_source_metrics

pytestmark = [pytest.mark.kafka]

N = 3000


@pytest.fixture
def upstream(kafka_config: KafkaClientConfig, unique: str) -> Iterator[str]:
    name = f"lag-upstream-{unique}"
    ensure_topics(kafka_config, [TopicSpec(name, partitions=1)])
    yield name
    delete_topics(kafka_config, [name])


class GatedPublisher:
    """The real producer, but no send completes before ``gate`` is set (a stalled bus)."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.gate = asyncio.Event()

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        await self.gate.wait()
        return await self.producer.send(*args, **kwargs)


class Runner:
    """What SourceCollector reads of a SourceRunner."""

    def __init__(self, source: KafkaSource) -> None:
        self.name, self.kind, self.bus, self.source = source.name, "kafka", source.bus, source
        self.state = "running"
        self.session_failures = 0

    def totals(self) -> tuple[int, int]:
        return self.source.published, self.source.dead_lettered


async def until(check: Any, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_upstream_lag_while_the_bus_stalls_and_zero_after(
    kafka_config: KafkaClientConfig,
    upstream: str,
    bus: str,
    unique: str,
    producer: Producer,
    running: Any,
) -> None:
    raw = RdProducer(kafka_config.librdkafka())
    for i in range(N):
        raw.produce(upstream, value=b'{"n": %d}' % i)
    assert raw.flush(30) == 0
    config = KafkaConfig(
        name=f"lag-{unique}",
        bus=bus,
        cluster=kafka_config,
        topics=[upstream],
        group_id=f"lag-{unique}",
        allow_private_network=True,
    )
    publisher = GatedPublisher(producer)
    source = KafkaSource(config, publisher)
    registry = CollectorRegistry()
    register_source_metrics(Runner(source), registry)  # type: ignore[arg-type]
    labels = {"source": f"lag-{unique}", "kind": "kafka", "bus": bus}
    assert source.upstream_lag() is None  # no session yet: no sample
    assert registry.get_sample_value("kbridge_source_upstream_lag", labels) is None

    async with running(source):
        # at most the in-flight window is read while nothing is acknowledged: the rest lags
        await until(lambda: (source.upstream_lag() or 0) > 0)
        await asyncio.sleep(1)
        stalled = registry.get_sample_value("kbridge_source_upstream_lag", labels)
        assert stalled is not None and 0 < stalled < N
        assert registry.get_sample_value("kbridge_source_events_published_total", labels) == 0

        publisher.gate.set()
        await until(lambda: source.published == N)
        await until(lambda: source.upstream_lag() == 0)
        assert registry.get_sample_value("kbridge_source_upstream_lag", labels) == 0
        assert registry.get_sample_value("kbridge_source_events_published_total", labels) == N
        state = {**labels, "state": "running"}
        assert registry.get_sample_value("kbridge_source_state", state) == 1.0
