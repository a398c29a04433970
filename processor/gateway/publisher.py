"""Publishing accepted events to a bus's ingress topic, one outcome per event.

The gateway answers a client only after Kafka acknowledged (acks=all): every event of a
request is produced concurrently and each one's acknowledgement or failure becomes that
entry's result, so a batch is never half-produced without the client knowing which half.
Events are written in the CloudEvents Kafka binary mode, keyed by their partition key.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from processor.errors import KbridgeError, RetriableError, is_retriable
from processor.events import CloudEvent, KafkaRecord, Mode, encode
from processor.kafka.producer import Ack, AsyncSender, delivery_outcome, send_record
from processor.kafka.topics import bus_topic

logger = logging.getLogger(__name__)

AsyncProducer = AsyncSender
"""What the gateway needs from :class:`processor.kafka.producer.Producer`."""


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

    async def publish(
        self, bus: str, events: Sequence[CloudEvent], *, max_event_bytes: int | None = None
    ) -> list[Outcome]:
        """Produce ``events`` to the bus; one outcome per event, in order."""
        topic = bus_topic(bus)
        limit = self._max_event_bytes if max_event_bytes is None else max_event_bytes
        outcomes: list[Outcome | None] = [None] * len(events)
        pending: list[tuple[int, CloudEvent, KafkaRecord]] = []
        for index, event in enumerate(events):
            try:
                record = encode(event, self._mode)
            except KbridgeError as exc:
                outcomes[index] = Rejected(event.id, exc.code, exc.message, retriable=False)
                continue
            size = record_size(record.value, record.headers)
            if size > limit:
                outcomes[index] = Rejected(
                    event.id,
                    "event-too-large",
                    f"event {event.id!r} is {size} bytes; the limit is {limit}",
                    retriable=False,
                    status=413,
                )
                continue
            pending.append((index, event, record))
        if pending:
            acks = await send_many(self._producer, topic, [record for _, _, record in pending])
            for (index, event, _), ack in zip(pending, acks, strict=True):
                outcomes[index] = self._outcome(topic, event, ack)
        return [o for o in outcomes if o is not None]

    @staticmethod
    def _outcome(topic: str, event: CloudEvent, ack: Ack | BaseException) -> Outcome:
        if not isinstance(ack, BaseException):
            return Published(event.id, ack[0], ack[1])
        retriable = is_retriable(ack)
        code = ack.code if isinstance(ack, KbridgeError) else "kafka-error"
        logger.warning(
            "produce failed",
            extra={"topic": topic, "event_id": event.id, "error": str(ack), "code": code},
        )
        return Rejected(
            event.id, code, str(ack), retriable=retriable, status=503 if retriable else 400
        )


async def send_many(
    producer: AsyncProducer, topic: str, records: Sequence[KafkaRecord]
) -> list[Ack | BaseException]:
    """Produce ``records`` and wait for every acknowledgement; one result per record.

    With a producer exposing ``produce(..., on_delivery=...)`` (kbridge's ``Producer``)
    the event loop is woken once for the whole batch instead of once per record.
    """
    produce = getattr(producer, "produce", None)
    can_produce = getattr(producer, "can_produce", None)
    if produce is None or (can_produce is not None and not can_produce()):
        return list(
            await asyncio.gather(
                *(send_record(producer, topic, r) for r in records),
                return_exceptions=True,
            )
        )
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()
    results: list[Ack | BaseException | None] = [None] * len(records)
    remaining = [len(records)]
    lock = threading.Lock()

    def settle() -> None:
        if not finished.done():
            finished.set_result(None)

    def record_result(index: int, result: Ack | BaseException) -> None:
        results[index] = result
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            loop.call_soon_threadsafe(settle)

    def on_delivery_for(index: int) -> Callable[[Any, Any], None]:
        def on_delivery(err: Any, msg: Any) -> None:
            record_result(index, delivery_outcome(err, msg))

        return on_delivery

    for index, record in enumerate(records):
        try:
            produce(topic, record.value, record.key, record.headers, on_delivery_for(index))
        except Exception as exc:  # a local refusal (e.g. record too large for librdkafka)
            record_result(index, exc)
    await finished
    return [r if r is not None else RetriableError("no acknowledgement") for r in results]
