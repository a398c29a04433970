"""Publishing accepted events to a bus's ingress topic, one outcome per event.

The gateway answers a client only after Kafka acknowledged (acks=all): every event of a
request is produced concurrently and each one's acknowledgement or failure becomes that
entry's result, so a batch is never half-produced without the client knowing which half.
Events are written in the CloudEvents Kafka binary mode, keyed by their partition key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from processor.errors import KbridgeError, is_retriable
from processor.events import CloudEvent, Mode, encode
from processor.kafka.topics import bus_topic

logger = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes | str | None]]


class AsyncProducer(Protocol):
    """What the gateway needs from :class:`processor.kafka.producer.Producer`."""

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
    ) -> tuple[int, int]: ...


@dataclass(frozen=True, slots=True)
class Published:
    """Kafka acknowledged the event at ``partition``/``offset``."""

    event_id: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """The event was not written; ``retriable`` tells the client whether to try again."""

    event_id: str
    code: str
    message: str
    retriable: bool
    status: int = 400


Outcome = Published | Rejected


def record_size(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> int:
    """Bytes an encoded event takes on the wire (value plus header names and values)."""
    return len(value or b"") + sum(len(name) + len(raw) for name, raw in headers)


class Publisher:
    """Encodes events and produces them to ``kbridge.bus.<bus>``, awaiting acknowledgements."""

    def __init__(
        self, producer: AsyncProducer, *, max_event_bytes: int, mode: Mode = "binary"
    ) -> None:
        self._producer = producer
        self._max_event_bytes = max_event_bytes
        self._mode: Mode = mode

    async def publish(self, bus: str, events: Sequence[CloudEvent]) -> list[Outcome]:
        """Produce ``events`` to the bus; one outcome per event, in order."""
        topic = bus_topic(bus)
        return list(await asyncio.gather(*(self._publish_one(topic, e) for e in events)))

    async def _publish_one(self, topic: str, event: CloudEvent) -> Outcome:
        try:
            record = encode(event, self._mode)
        except KbridgeError as exc:
            return Rejected(event.id, exc.code, exc.message, retriable=False)
        size = record_size(record.value, record.headers)
        if size > self._max_event_bytes:
            return Rejected(
                event.id,
                "event-too-large",
                f"event {event.id!r} is {size} bytes; the limit is {self._max_event_bytes}",
                retriable=False,
                status=413,
            )
        try:
            partition, offset = await self._producer.send(
                topic, record.value, record.key, record.headers
            )
        except Exception as exc:
            retriable = is_retriable(exc)
            code = exc.code if isinstance(exc, KbridgeError) else "kafka-error"
            logger.warning(
                "produce failed",
                extra={"topic": topic, "event_id": event.id, "error": str(exc), "code": code},
            )
            return Rejected(
                event.id, code, str(exc), retriable=retriable, status=503 if retriable else 400
            )
        return Published(event.id, partition, offset)
