"""Publishing accepted events to a bus's ingress topic, one outcome per event.

The gateway answers a client only after Kafka acknowledged (acks=all): every event of a
request is produced at once and each one's acknowledgement or failure becomes that
entry's result, so a batch is never half-produced without the client knowing which half.
Events are written in the CloudEvents Kafka binary mode.

Entry points hand over either CloudEvents (:meth:`Publisher.publish`) or records they
encoded themselves on their hot path (:meth:`Publisher.publish_records`, as
``(event_id, key, value, headers)`` tuples: no per-event model on the way). Both go
through the same size limit, :class:`~processor.gateway.flow.FlowControl` budget and
bounded acknowledgement wait: a record not acknowledged within ``ack_timeout`` gets
:data:`OUTCOME_UNKNOWN` (it may still be written), never a plain failure.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from confluent_kafka import KafkaException

from processor.errors import FatalError, KbridgeError, RetriableError, is_retriable
from processor.events import CloudEvent, Mode, encode
from processor.gateway.flow import FlowControl
from processor.gateway.tracing import request_traceparent, with_traceparent
from processor.kafka.producer import (
    Ack,
    AsyncSender,
    delivery_error,
    delivery_outcome,
    send_record,
)
from processor.kafka.topics import bus_topic
from processor.trace import writer as trace_writer

AsyncProducer = AsyncSender
"""What the gateway needs from :class:`processor.kafka.producer.Producer`."""

QUEUE_FULL = "the Kafka producer's local queue is full"
OUTCOME_UNKNOWN = "outcome-unknown"
"""Kafka did not answer within the ack timeout: the record may or may not be written."""

EncodedEvent = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]
"""``(event_id, key, value, headers)`` of an event ready to produce."""


@dataclass(frozen=True, slots=True)
class Published:
    """Kafka acknowledged the event at ``partition``/``offset``."""

    event_id: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """The event was not written (or, for ``outcome-unknown``, maybe written)."""

    event_id: str
    code: str
    message: str
    retriable: bool
    status: int = 400


Outcome = Published | Rejected


def record_size(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> int:
    """Bytes an encoded event takes on the wire (value plus header names and values)."""
    return len(value or b"") + sum([len(name) + len(raw) for name, raw in headers])


class Publisher:
    """Produces encoded events to ``kbridge.bus.<bus>``, awaiting acknowledgements."""

    def __init__(
        self,
        producer: AsyncProducer,
        *,
        max_event_bytes: int,
        mode: Mode = "binary",
        flow: FlowControl | None = None,
    ) -> None:
        self._producer = producer
        self._max_event_bytes = max_event_bytes
        self._mode: Mode = mode
        self.flow = flow or FlowControl(max_inflight_bytes=64 * 1024 * 1024, ack_timeout=5.0)

    @property
    def binary(self) -> bool:
        """Whether events are written in binary mode (entry points may encode them so)."""
        return self._mode == "binary"

    async def publish(
        self, bus: str, events: Sequence[CloudEvent], *, max_event_bytes: int | None = None
    ) -> list[Outcome]:
        """Encode and produce ``events`` to the bus; one outcome per event, in order."""
        outcomes: list[Outcome | None] = [None] * len(events)
        encoded: list[EncodedEvent] = []
        positions: list[int] = []
        for index, event in enumerate(events):
            try:
                record = encode(event, self._mode)
            except KbridgeError as exc:
                outcomes[index] = Rejected(event.id, exc.code, exc.message, retriable=False)
                continue
            encoded.append((event.id, record.key, record.value, record.headers))
            positions.append(index)
        if encoded:
            published = await self.publish_records(bus, encoded, max_event_bytes=max_event_bytes)
            for index, outcome in zip(positions, published, strict=True):
                outcomes[index] = outcome
        return [o for o in outcomes if o is not None]

    async def publish_records(
        self, bus: str, events: Sequence[EncodedEvent], *, max_event_bytes: int | None = None
    ) -> list[Outcome]:
        """Produce encoded events; one outcome per event, in order.

        Raises a 503 :class:`~processor.gateway.errors.ApiError` before producing anything
        when the in-flight budget is spent or Kafka stalls (see :mod:`processor.gateway.flow`).
        """
        limit = self._max_event_bytes if max_event_bytes is None else max_event_bytes
        if len(events) == 1:  # most requests: no bookkeeping of positions
            event = events[0]
            size = record_size(event[2], event[3])
            if size > limit:
                return [_too_large(event[0], size, limit)]
            return [_outcome(event[0], (await self._send(bus, events, size))[0])]
        outcomes: list[Outcome | None] = [None] * len(events)
        sendable: list[EncodedEvent] = []
        positions: list[int] = []
        total = 0
        for index, event in enumerate(events):
            size = record_size(event[2], event[3])
            if size > limit:
                outcomes[index] = _too_large(event[0], size, limit)
                continue
            total += size
            sendable.append(event)
            positions.append(index)
        if sendable:
            acks = await self._send(bus, sendable, total)
            for index, event, ack in zip(positions, sendable, acks, strict=True):
                outcomes[index] = _outcome(event[0], ack)
        return [o for o in outcomes if o is not None]

    async def _send(
        self, bus: str, records: Sequence[EncodedEvent], size: int
    ) -> list[Ack | BaseException]:
        """Reserve ``size`` bytes, produce ``records`` and wait for their acknowledgements."""
        parent = request_traceparent()
        if parent is not None:  # the request's W3C traceparent header (docs/tracing.md)
            records = with_traceparent(records, parent)
        flow = self.flow
        reserved = flow.reserve(size)
        started = time.time()
        acks = await send_many(
            self._producer, bus_topic(bus), records, flow, partial(flow.release, reserved)
        )
        if trace_writer.hooks_on():  # trace records and spans: docs/tracing.md
            trace_writer.published(bus, records, acks, started)
        return acks


def _too_large(event_id: str, size: int, limit: int) -> Rejected:
    return Rejected(
        event_id,
        "event-too-large",
        f"event {event_id!r} is {size} bytes; the limit is {limit}",
        retriable=False,
        status=413,
    )


class AckTimeout(RetriableError):
    """Kafka did not acknowledge within the gateway's ack timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__(
            f"Kafka did not acknowledge within {timeout:g} s; the event may or may not have "
            "been written: retry with the same event id so that receivers can deduplicate",
            code=OUTCOME_UNKNOWN,
        )


def _outcome(event_id: str, ack: Ack | BaseException) -> Outcome:
    if not isinstance(ack, BaseException):
        return Published(event_id, ack[0], ack[1])
    code = ack.code if isinstance(ack, KbridgeError) else "kafka-error"
    if code == OUTCOME_UNKNOWN:
        return Rejected(event_id, code, str(ack), retriable=True, status=504)
    retriable = is_retriable(ack)
    return Rejected(event_id, code, str(ack), retriable=retriable, status=503 if retriable else 400)


class _Batch:
    """The acknowledgements of one request's records, settled on the event loop."""

    __slots__ = ("complete", "done", "flow", "last", "loop", "release", "results", "tickets")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        count: int,
        flow: FlowControl,
        release: Callable[[], None],
    ) -> None:
        self.loop = loop
        self.done: asyncio.Future[None] = loop.create_future()
        self.results: list[Ack | BaseException | None] = [None] * count
        # One ticket per settled record; ``next`` on a count is atomic under the GIL, so the
        # poll thread and the loop thread (local refusals) need no lock to find the last one.
        self.tickets = itertools.count()
        self.last = count - 1
        self.complete = False
        self.flow = flow
        self.release = release

    def on_delivery(self, index: int, err: Any, msg: Any) -> None:
        """librdkafka's delivery callback (poll thread) for record ``index``."""
        self.record(index, delivery_outcome(err, msg))

    def record(self, index: int, result: Ack | BaseException) -> None:
        """Store one outcome; the last one wakes the loop once for the whole batch."""
        self.results[index] = result
        if next(self.tickets) == self.last:
            self.complete = True
            self.loop.call_soon_threadsafe(self.finish)

    def finish(self) -> None:
        """On the loop: settle the flow account and wake the request (if still waiting)."""
        acknowledged = False
        for result in self.results:
            if not isinstance(result, BaseException):
                acknowledged = True
                break
        self.flow.records_settled(len(self.results), acknowledged)
        self.release()
        if not self.done.done():
            self.done.set_result(None)


async def send_many(
    producer: AsyncProducer,
    topic: str,
    records: Sequence[EncodedEvent],
    flow: FlowControl,
    release: Callable[[], None],
) -> list[Ack | BaseException]:
    """Produce ``records`` and wait (at most ``flow.ack_timeout``) for every acknowledgement.

    One result per record; a record still unacknowledged at the timeout gets
    :class:`AckTimeout`, and its bytes stay reserved until librdkafka settles it. With a
    producer exposing ``produce(..., on_delivery=...)`` (kbridge's ``Producer``) the event
    loop is woken once for the whole batch instead of once per record.
    """
    # librdkafka's produce itself (ProducerSlot.queue): no wrapper per record
    queue: Callable[..., None] | None = getattr(producer, "queue", None)
    if queue is None:
        produce = getattr(producer, "produce", None)
        can_produce = getattr(producer, "can_produce", None)
        if produce is None or (can_produce is not None and not can_produce()):
            try:
                return await _send_each(producer, topic, records, flow)
            finally:
                release()
        queue = partial(_queue_with, produce)
    loop = asyncio.get_running_loop()
    batch = _Batch(loop, len(records), flow, release)
    flow.records_sent(len(records))
    on_delivery = batch.on_delivery
    for index, (_, key, value, headers) in enumerate(records):
        try:
            queue(topic, value, key, headers=headers, on_delivery=partial(on_delivery, index))
        except BufferError:
            batch.record(index, RetriableError(QUEUE_FULL, code="producer-queue-full"))
        except KafkaException as exc:
            batch.record(index, delivery_error(exc.args[0]))
        except Exception as exc:  # a local refusal (record too large, closed)
            batch.record(index, exc)
    flow.watch(batch.done)
    await batch.done
    if batch.complete:
        return batch.results  # type: ignore[return-value]  # every slot is filled
    flow.timed_out()
    timeout = AckTimeout(flow.ack_timeout)
    return [r if r is not None else timeout for r in batch.results]


def _queue_with(
    produce: Callable[..., None],
    topic: str,
    value: bytes | None,
    key: bytes | None,
    *,
    headers: Any,
    on_delivery: Callable[[Any, Any], None],
) -> None:
    """librdkafka's ``produce`` signature over a producer's ``produce`` with callbacks."""
    produce(topic, value, key, headers, on_delivery)


async def _send_each(
    producer: AsyncProducer, topic: str, records: Sequence[EncodedEvent], flow: FlowControl
) -> list[Ack | BaseException]:
    """A producer with only ``send``: one awaited send per record, same timeout."""
    from processor.events import KafkaRecord

    async def one(key: bytes | None, value: bytes | None, headers: Any) -> Ack:
        sent = send_record(producer, topic, KafkaRecord(key, value, headers))
        try:
            return await asyncio.wait_for(sent, flow.ack_timeout)
        except TimeoutError:
            flow.timed_out()
            raise AckTimeout(flow.ack_timeout) from None

    return list(
        await asyncio.gather(*(one(k, v, h) for _, k, v, h in records), return_exceptions=True)
    )


def publish_function(publisher: Publisher) -> Callable[[str, CloudEvent], Awaitable[None]]:
    """``await publish(bus, event)`` for the webhook router, through the same path and limits.

    A refused or failed event raises: :class:`RetriableError` (the platform gets 503 and
    retries) or :class:`FatalError`; a shed request raises the 503 ``ApiError`` itself.
    """

    async def publish(bus: str, event: CloudEvent) -> None:
        outcome = (await publisher.publish(bus, [event]))[0]
        if isinstance(outcome, Rejected):
            error = RetriableError if outcome.retriable else FatalError
            raise error(outcome.message, code=outcome.code)

    return publish
