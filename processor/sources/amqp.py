"""AMQP 0-9-1 source (aio-pika, RabbitMQ): a queue, or a queue bound to an exchange.

Messages are acknowledged manually, one by one and in delivery order, only after Kafka
acknowledged the event; ``prefetch`` caps how many are unacknowledged at once, which is also
how many publishes are in flight. A broken connection abandons the unacknowledged ones and
RabbitMQ redelivers them (``redelivered`` set) on the next session.

An existing queue is used as it is (passive declare, whatever its type and arguments); a
missing one is declared durable. With only ``exchange``, a durable queue
``kbridge.<source name>`` is declared and bound with ``routing_key``, so messages published
while kbridge is away wait for it.

Mapping: ``id`` is the AMQP ``message_id`` when set (redeliveries then deduplicate), ``source``
``amqp://host:port/vhost``, ``subject`` the routing key, ``type`` the AMQP ``type`` property
or ``amqp.message``, ``time`` the ``timestamp`` property; the Kafka key (``partitionkey``) is
the queue, so one queue keeps its order on one partition.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
)
from aiormq.exceptions import ChannelNotFoundEntity

from processor.events import CloudEvent
from processor.sources.base import AckWindow, Publisher, Source, register_source
from processor.sources.payload import payload_event

log = logging.getLogger(__name__)

EVENT_TYPE = "amqp.message"


@register_source
class AmqpSource(Source):
    """Consume ``config.queue`` (or a queue bound to ``config.exchange``) into the bus."""

    kind = "amqp"

    def __init__(self, config: Any, publisher: Publisher, **kwargs: Any) -> None:
        super().__init__(config, publisher, **kwargs)
        url = urlsplit(config.url)
        vhost = url.path.lstrip("/") or "/"
        default_port = 5671 if url.scheme == "amqps" else 5672
        self.origin = f"amqp://{url.hostname}:{url.port or default_port}/{vhost.lstrip('/')}"
        self.queue_name: str = config.queue or f"kbridge.{self.name}"

    async def session(self) -> None:
        default_port = 5671 if self.config.url.startswith("amqps") else 5672
        await self.vet_url(self.config.url, default_port, "AMQP broker")
        connection = await aio_pika.connect(self.config.url, timeout=10)
        async with connection:
            channel = await self._channel(connection)
            try:
                queue = await channel.declare_queue(self.queue_name, passive=True)
            except ChannelNotFoundEntity:  # the broker closed that channel; declare it anew
                channel = await self._channel(connection)
                queue = await channel.declare_queue(self.queue_name, durable=True)
            if self.config.exchange:
                exchange = await channel.get_exchange(self.config.exchange, ensure=True)
                await queue.bind(exchange, routing_key=self.config.routing_key)
            self.backoff.reset()
            log.info(
                "amqp source connected",
                extra={"source": self.name, "broker": self.origin, "queue": self.queue_name},
            )
            window = AckWindow(limit=self.config.prefetch)
            await self.pump(self._consume(queue, window), window)

    async def _channel(self, connection: AbstractConnection) -> AbstractChannel:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self.config.prefetch)
        return channel

    async def _consume(self, queue: AbstractQueue, window: AckWindow) -> None:
        async with queue.iterator() as messages:
            async for message in messages:
                await window.submit(
                    self.forward(
                        functools.partial(self._event, message),
                        message.body,
                        key=self.queue_name.encode(),
                        headers=[("amqp-queue", self.queue_name)],
                    ),
                    message.ack,
                )

    def _event(self, message: AbstractIncomingMessage) -> CloudEvent:
        stamp = message.timestamp
        if stamp is not None and stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)  # AMQP timestamps are seconds since the epoch
        return payload_event(
            message.body,
            source=self.origin,
            type=message.type or EVENT_TYPE,
            subject=message.routing_key or None,
            id=message.message_id,
            time=stamp,
            content_type=message.content_type,
            extensions={"partitionkey": self.queue_name},
        )
