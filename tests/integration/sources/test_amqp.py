"""AMQP source against the real RabbitMQ on 127.0.0.1:5672."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aio_pika
import pytest

from processor.config.sources import AmqpSource as AmqpConfig
from processor.kafka.producer import Producer
from processor.kafka.topics import bus_dlq_topic, bus_topic
from processor.sources.amqp import AmqpSource

pytestmark = [pytest.mark.kafka, pytest.mark.brokers]
URL = "amqp://guest:guest@127.0.0.1:5672/"


async def publish(exchange_name: str, routing_key: str, bodies: list[bytes], **props: Any) -> None:
    """Publish with publisher confirms and persistent delivery, as a careful producer does."""
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = (
            await channel.get_exchange(exchange_name) if exchange_name else channel.default_exchange
        )
        for body in bodies:
            await exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **props),
                routing_key=routing_key,
            )


async def test_queue_messages_arrive_in_order_and_malformed_go_to_dlq(
    bus: str, unique: str, producer: Producer, reader: Any, running: Any, broker: Any
) -> None:
    broker.require("rabbitmq")
    queue = f"q-{unique}"
    ingress, dlq = reader(bus_topic(bus)), reader(bus_dlq_topic(bus))
    config = AmqpConfig(
        name=f"amqp-{unique}",
        bus=bus,
        url=URL,
        allow_private_network=True,
        queue=queue,
        prefetch=20,
    )
    source = AmqpSource(config, producer)
    async with running(source, connected=True):
        await publish("", queue, [json.dumps({"n": i}).encode() for i in range(100)])
        await publish("", queue, [b"{not json"], content_type="application/json")
        await publish("", queue, [b"plain"], content_type="text/plain", message_id="m-1")
        await ingress.wait_for(101)
        await dlq.wait_for(1)
    events = ingress.events()
    assert [e.data["n"] for e in events[:100]] == list(range(100))
    assert {m.key() for m in ingress.messages} == {queue.encode()}
    assert events[0].source == "amqp://127.0.0.1:5672/"
    assert events[0].subject == queue
    last = events[100]
    assert (last.id, last.datacontenttype, last.data) == ("m-1", "text/plain", "plain")
    [dead] = dlq.messages
    assert dead.value() == b"{not json"
    headers = dict(dead.headers())
    assert headers["kbridge-error-code"] == b"invalid-event"
    assert headers["kbridge-failed-stage"] == b"decode"


async def test_exchange_binding_and_broker_restart_lose_nothing(
    bus: str, unique: str, producer: Producer, reader: Any, running: Any, broker: Any
) -> None:
    broker.require("rabbitmq")
    exchange = f"ex-{unique}"
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    ingress = reader(bus_topic(bus))
    config = AmqpConfig(
        name=f"amqp-{unique}",
        bus=bus,
        url=URL,
        allow_private_network=True,
        exchange=exchange,
        routing_key="orders.*",
    )
    source = AmqpSource(config, producer)
    total = 200
    async with running(source, connected=True):
        await publish(
            exchange, "orders.created", [json.dumps({"n": i}).encode() for i in range(100)]
        )
        await publish(exchange, "audit.x", [b'{"ignored": true}'])
        await asyncio.to_thread(broker.script, "restart", "rabbitmq")
        await publish(
            exchange, "orders.paid", [json.dumps({"n": i}).encode() for i in range(100, total)]
        )
        await ingress.wait_for(total, timeout=60)
    seen = [e.data["n"] for e in ingress.events()]
    assert set(seen) == set(range(total))
    assert {e.subject for e in ingress.events()} == {"orders.created", "orders.paid"}


async def test_an_existing_quorum_queue_is_consumed_as_declared(
    bus: str, unique: str, producer: Producer, reader: Any, running: Any, broker: Any
) -> None:
    broker.require("rabbitmq")
    queue = f"quorum-{unique}"
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})
    await publish("", queue, [json.dumps({"n": i}).encode() for i in range(10)])
    ingress = reader(bus_topic(bus))
    config = AmqpConfig(
        name=f"amqp-{unique}", bus=bus, url=URL, allow_private_network=True, queue=queue
    )
    async with running(AmqpSource(config, producer)):
        await ingress.wait_for(10)
    assert [e.data["n"] for e in ingress.events()] == list(range(10))
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        remaining = await channel.declare_queue(queue, passive=True)
        assert remaining.declaration_result.message_count == 0
        await channel.queue_delete(queue)


async def test_prefetch_bounds_unacknowledged_messages(
    bus: str, unique: str, producer: Producer, reader: Any, running: Any, broker: Any
) -> None:
    broker.require("rabbitmq")

    class Slow:
        """The real producer behind a slow network: shows how many sends are in flight."""

        def __init__(self) -> None:
            self.in_flight = 0
            self.peak = 0

        async def send(self, *args: Any, **kwargs: Any) -> tuple[int, int]:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                await asyncio.sleep(0.05)
                return await producer.send(*args, **kwargs)
            finally:
                self.in_flight -= 1

    slow = Slow()
    queue = f"p-{unique}"
    ingress = reader(bus_topic(bus))
    config = AmqpConfig(
        name=f"amqp-{unique}", bus=bus, url=URL, allow_private_network=True, queue=queue, prefetch=5
    )
    async with running(AmqpSource(config, slow), connected=True):
        await publish("", queue, [json.dumps({"n": i}).encode() for i in range(40)])
        await ingress.wait_for(40)
    assert slow.peak == 5
    assert [e.data["n"] for e in ingress.events()] == list(range(40))
