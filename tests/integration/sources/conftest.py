"""Fixtures for source tests: the real brokers on loopback, Kafka, and an ingress reader.

Start the brokers with ``deploy/brokers.sh start`` (``.ci/run`` does); tests that restart a
broker mid-stream call the same script.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Message

from processor.events import CloudEvent, decode
from processor.kafka.admin import TopicSpec, delete_topics, ensure_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.producer import Producer
from processor.kafka.topics import bus_dlq_topic, bus_topic
from processor.sources.base import Source

BROKERS_SH = Path(__file__).resolve().parents[3] / "deploy" / "brokers.sh"
PORTS = {"mosquitto": 1883, "rabbitmq": 5672, "nats": 4222}


def broker_up(name: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", PORTS[name]), timeout=2):
            return True
    except OSError:
        return False


def require_broker(name: str) -> None:
    """Fail unless ``name`` accepts connections within 15 s (a restart may be settling)."""
    deadline = time.monotonic() + 15
    while not broker_up(name) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not broker_up(name):
        pytest.fail(f"{name} is not running on 127.0.0.1:{PORTS[name]}: deploy/brokers.sh start")


def brokers_sh(*args: str) -> None:
    """Run deploy/brokers.sh (stop/start one broker for the restart tests)."""
    subprocess.run([str(BROKERS_SH), *args], check=True, timeout=180, capture_output=True)


@pytest.fixture
def kafka_config(kafka_bootstrap: str) -> KafkaClientConfig:
    return KafkaClientConfig(bootstrap_servers=kafka_bootstrap)


@pytest.fixture
def bus(kafka_config: KafkaClientConfig, unique: str) -> Iterator[str]:
    """A fresh bus: ingress and dead-letter topics created, deleted afterwards."""
    name = f"src-{unique}"
    ensure_topics(
        kafka_config,
        [TopicSpec(bus_topic(name), partitions=3), TopicSpec(bus_dlq_topic(name), partitions=1)],
    )
    yield name
    delete_topics(kafka_config, [bus_topic(name), bus_dlq_topic(name)])


@pytest.fixture
def producer(kafka_config: KafkaClientConfig) -> Iterator[Producer]:
    p = Producer(kafka_config)
    yield p
    p.close()


class TopicReader:
    """Reads a topic from the beginning (read_committed), decoding as it goes."""

    def __init__(self, config: KafkaClientConfig, topic: str) -> None:
        self.consumer = Consumer(
            config.librdkafka(
                **{
                    "group.id": f"test-reader-{time.monotonic_ns()}",
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                }
            )
        )
        self.consumer.subscribe([topic])
        self.messages: list[Message] = []

    def _poll(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                continue
            self.messages.append(msg)

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Message]:
        """Poll until at least ``count`` records arrived (or ``timeout``), then return all."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            await asyncio.to_thread(self._poll, 0.5)
        return self.messages

    async def settle(self, seconds: float = 2.0) -> list[Message]:
        """Keep polling a little longer: proves nothing extra (duplicates) arrives."""
        await asyncio.to_thread(self._poll, seconds)
        return self.messages

    def events(self) -> list[CloudEvent]:
        return [decode(m.value(), m.headers()) for m in self.messages]

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def reader(kafka_config: KafkaClientConfig) -> Iterator[Any]:
    readers: list[TopicReader] = []

    def make(topic: str) -> TopicReader:
        r = TopicReader(kafka_config, topic)
        readers.append(r)
        return r

    yield make
    for r in readers:
        r.close()


class _Connected(logging.Handler):
    """Names of the sources that logged "<kind> source connected" (MQTT: subscribed; AMQP:
    queue declared and bound; NATS JetStream: stream and durable consumer made)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().endswith(" source connected"):
            self.names.add(str(getattr(record, "source", "")))


@contextlib.asynccontextmanager
async def _running(
    source: Source, *, connected: bool = False, timeout: float = 30.0
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``source``; with ``connected``, yield only once it logged that it is connected
    (instead of a fixed sleep before publishing)."""
    logger = logging.getLogger("processor.sources")
    handler, level = _Connected(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    await source.setup()
    task = asyncio.create_task(source.run())
    try:
        deadline = time.monotonic() + timeout
        while connected and source.name not in handler.names:
            assert not task.done(), f"source {source.name} stopped before connecting"
            assert time.monotonic() < deadline, f"source {source.name} did not connect"
            await asyncio.sleep(0.05)
        yield task
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        await source.stop()
        await asyncio.wait_for(task, timeout=30)


@pytest.fixture
def running() -> Any:
    """``async with running(source):`` runs it in the background and stops it cleanly;
    ``running(source, connected=True)`` first waits for its "connected" log line."""
    return _running


@pytest.fixture
def broker() -> Any:
    """``broker.require(name)`` fails unless it runs; ``broker.script(*args)`` runs brokers.sh."""

    class _Broker:
        require = staticmethod(require_broker)
        script = staticmethod(brokers_sh)

    return _Broker
