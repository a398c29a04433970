"""When Kafka refuses events, nothing is acknowledged upstream: the brokers redeliver.

The publisher in front of the real producer fails its first sends the way the producer does
when Kafka is unreachable (RetriableError); every message must still reach the ingress topic.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import aio_pika
import nats
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from processor.config.sources import AmqpSource as AmqpConfig
from processor.config.sources import MqttSource as MqttConfig
from processor.config.sources import NatsSource as NatsConfig
from processor.errors import RetriableError
from processor.kafka.producer import Producer
from processor.kafka.topics import bus_topic
from processor.sources.amqp import AmqpSource
from processor.sources.base import Backoff, Source
from processor.sources.mqtt import MqttSource
from processor.sources.nats import NatsSource

pytestmark = [pytest.mark.kafka, pytest.mark.brokers]
TOTAL = 40


class FailingFirst:
    """The real producer, except that sends number ``fail_at`` .. ``fail_at + count`` fail."""

    def __init__(self, producer: Producer, fail_at: int = 5, count: int = 5) -> None:
        self.producer = producer
        self.calls = 0
        self.fail = range(fail_at, fail_at + count)

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes | str | None]] | None = None,
    ) -> tuple[int, int]:
        self.calls += 1
        if self.calls in self.fail:
            await asyncio.sleep(0.05)
            raise RetriableError("Kafka did not acknowledge the record (simulated outage)")
        return await self.producer.send(topic, value, key, headers)


async def publish_mqtt(topic: str) -> None:
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        for i in range(TOTAL):
            client.publish(topic, json.dumps({"n": i}), qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


async def publish_amqp(queue: str) -> None:
    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for i in range(TOTAL):
            await channel.default_exchange.publish(
                aio_pika.Message(json.dumps({"n": i}).encode()), routing_key=queue
            )


async def publish_nats(subject: str, stream: str) -> None:
    client = await nats.connect("nats://127.0.0.1:4222")
    try:
        js = client.jetstream()
        for i in range(TOTAL):
            await js.publish(subject, json.dumps({"n": i}).encode(), stream=stream)
    finally:
        await client.close()


@pytest.mark.parametrize("kind", ["mqtt", "amqp", "nats"])
async def test_refused_events_are_redelivered_not_lost(
    kind: str, bus: str, unique: str, producer: Producer, reader: Any, running: Any, broker: Any
) -> None:
    broker.require({"mqtt": "mosquitto", "amqp": "rabbitmq", "nats": "nats"}[kind])
    flaky = FailingFirst(producer)
    backoff = Backoff(initial=0.05, maximum=0.2)
    name = f"{kind}-{unique}"
    source: Source
    if kind == "mqtt":
        config: Any = MqttConfig(
            name=name,
            bus=bus,
            url="mqtt://127.0.0.1:1883",
            allow_private_network=True,
            topics=[f"out{unique}"],
        )
        source = MqttSource(config, flaky, backoff=backoff)
        publish = publish_mqtt(f"out{unique}")
    elif kind == "amqp":
        config = AmqpConfig(
            name=name,
            bus=bus,
            url="amqp://guest:guest@127.0.0.1:5672/",
            allow_private_network=True,
            queue=f"out{unique}",
        )
        source = AmqpSource(config, flaky, backoff=backoff)
        publish = publish_amqp(f"out{unique}")
    else:
        config = NatsConfig(
            name=name,
            bus=bus,
            url="nats://127.0.0.1:4222",
            allow_private_network=True,
            subject=f"out{unique}",
            stream=f"OUT{unique}",
        )
        source = NatsSource(config, flaky, backoff=backoff)
        publish = publish_nats(f"out{unique}", f"OUT{unique}")
    ingress = reader(bus_topic(bus))
    async with running(source):
        await asyncio.sleep(1.0)
        await publish
        for _ in range(60):
            numbers = {e.data["n"] for e in ingress.events()}
            if len(numbers) == TOTAL:
                break
            await ingress.settle(0.5)
    assert {e.data["n"] for e in ingress.events()} == set(range(TOTAL))
    assert flaky.calls > TOTAL  # the refused ones were sent again
