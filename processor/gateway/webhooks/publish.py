"""A ``publish`` function for the webhook router that produces to a bus's ingress topic.

The router only needs ``async publish(bus, event)``; this adapter encodes the CloudEvent with
the Kafka protocol binding (binary mode by default, as the design prescribes for ingress)
and returns only after Kafka acknowledged (the producer is acks=all), so the platform is
answered 2xx only for events that are durably stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from processor.events import CloudEvent, Mode, encode
from processor.kafka.producer import AsyncSender, send_record
from processor.kafka.topics import bus_topic

Publish = Callable[[str, CloudEvent], Awaitable[None]]
"""``await publish(bus, event)``: completes once the event is durably stored."""


def kafka_publisher(producer: AsyncSender, mode: Mode = "binary") -> Publish:
    """A publish function producing each event to ``kbridge.bus.<bus>``."""

    async def publish(bus: str, event: CloudEvent) -> None:
        await send_record(producer, bus_topic(bus), encode(event, mode))

    return publish
