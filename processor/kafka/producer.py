"""An idempotent, acks=all producer whose sends complete only when Kafka acknowledged.

Every component that writes events (gateway, router, sinks' dead letters, sources) uses this
wrapper so that "acknowledged" means the same everywhere: the broker confirmed the write to
all in-sync replicas. A background thread serves librdkafka's delivery callbacks, so both the
asyncio ``send`` and the blocking ``send_and_wait`` resolve without the caller polling.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka import Producer as _RdProducer

from processor.errors import FatalError, RetriableError
from processor.kafka.config import KafkaClientConfig

if TYPE_CHECKING:
    from processor.events.kafka import KafkaRecord

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes | str | None]]
Ack = tuple[int, int]
"""(partition, offset) of an acknowledged record."""

PARTITIONER = "murmur2_random"
"""The Java client's key hash (murmur2; null keys spread at random): librdkafka's default is
CRC32, so without this the gateway, the native router and the sinks would place a key on
another partition than Faust (aiokafka) and Java producers do (issue 21 item 3)."""

DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "partitioner": PARTITIONER,
    "acks": "all",
    "linger.ms": 5,
    "batch.size": 512 * 1024,
    "compression.type": "lz4",
    "message.timeout.ms": 60_000,
    "queue.buffering.max.messages": 200_000,
}


def delivery_error(err: KafkaError) -> Exception:
    """Map a librdkafka delivery error onto kbridge's retriable/fatal hierarchy."""
    message = f"Kafka did not acknowledge the record: {err.str()} ({err.name()})"
    permanent = err.code() in (
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
    )
    if err.fatal() or (permanent and not err.retriable()):
        return FatalError(message, code="kafka-" + err.name().lower())
    return RetriableError(message, code="kafka-" + err.name().lower())


def delivery_outcome(err: KafkaError | None, msg: Message) -> Ack | Exception:
    """A delivery callback's outcome: the mapped error, or the record's (partition, offset)."""
    if err is not None:
        return delivery_error(err)
    return (msg.partition() or 0, msg.offset() or 0)


class AsyncSender(Protocol):
    """What code that awaits Kafka's acknowledgement needs: :class:`Producer` fits."""

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
    ) -> Ack:
        """Produce; return (partition, offset) once Kafka acknowledged (acks=all)."""
        ...


async def send_record(
    sender: AsyncSender, topic: str, record: KafkaRecord, extra_headers: Headers = ()
) -> Ack:
    """Produce an encoded event (``record``, plus ``extra_headers``) and await Kafka's ack."""
    headers = [*record.headers, *extra_headers] if extra_headers else record.headers
    return await sender.send(topic, record.value, record.key, headers)


def _resolver(future: Future[Ack]) -> Callable[[Exception | None, Ack | None], None]:
    """Settle a concurrent ``future`` with a delivery's outcome."""

    def resolve(exc: Exception | None, ack: Ack | None) -> None:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(ack)  # type: ignore[arg-type]

    return resolve


class Producer:
    """Thread-safe producer wrapper; one per process is enough."""

    def __init__(
        self,
        config: KafkaClientConfig,
        *,
        poll_thread: bool = True,
        **overrides: Any,
    ) -> None:
        conf = {**DEFAULTS, **config.librdkafka(), **overrides}
        self._producer = _RdProducer(conf)
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        if poll_thread:
            self._thread = threading.Thread(
                target=self._serve_callbacks, name="kbridge-producer-poll", daemon=True
            )
            self._thread.start()

    @property
    def raw(self) -> _RdProducer:
        """The underlying confluent-kafka producer (for transactions in the native router)."""
        return self._producer

    def _serve_callbacks(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
        partition: int | None = None,
        *,
        block: bool = True,
    ) -> None:
        """Queue a record; ``on_delivery`` runs on the poll thread once Kafka answered.

        With ``block=False`` a full local queue raises :class:`RetriableError` at once
        instead of waiting for room (the gateway's event loop must never wait here).
        """
        kwargs: dict[str, Any] = {"value": value, "key": key, "on_delivery": on_delivery}
        if headers:
            kwargs["headers"] = list(headers)
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                return
            except BufferError:
                if not block:
                    raise RetriableError(
                        "the Kafka producer's local queue is full", code="producer-queue-full"
                    ) from None
                # The local queue is full: wait for deliveries instead of failing the caller.
                self._producer.poll(0.1) if self._thread is None else self._closed.wait(0.01)
            except KafkaException as exc:
                raise delivery_error(exc.args[0]) from exc

    def queue_function(self) -> Callable[..., None]:
        """librdkafka's own ``produce`` (``topic, value, key, headers=, on_delivery=``).

        For a caller queueing many records on a hot path that handles ``BufferError`` and
        ``KafkaException`` itself (the gateway's ``send_many``): it skips this wrapper's
        per-call keyword dict and header copy. Raises ``BufferError`` when the local queue
        is full, never waits.
        """
        produce: Callable[..., None] = self._producer.produce
        return produce

    def _future_send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers | None,
        resolve: Callable[[Exception | None, Ack | None], None],
    ) -> None:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            outcome = delivery_outcome(err, msg)
            if isinstance(outcome, Exception):
                resolve(outcome, None)
            else:
                resolve(None, outcome)

        self.produce(topic, value, key, headers, on_delivery)

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
    ) -> Ack:
        """Produce and wait (without blocking the loop) until Kafka acknowledged."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Ack] = loop.create_future()

        def settle(exc: Exception | None, ack: Ack | None) -> None:
            if future.done():
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                assert ack is not None
                future.set_result(ack)

        def resolve(exc: Exception | None, ack: Ack | None) -> None:
            loop.call_soon_threadsafe(settle, exc, ack)

        self._future_send(topic, value, key, headers, resolve)
        return await future

    def send_and_wait(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        timeout: float = 60.0,
    ) -> Ack:
        """Blocking :meth:`send` for synchronous callers (CLI tools, sink threads)."""
        future: Future[Ack] = Future()
        self._future_send(topic, value, key, headers, _resolver(future))
        if self._thread is None:
            self._producer.flush(timeout)
        return future.result(timeout)

    def send_batch(
        self,
        records: Sequence[tuple[str, bytes | None, bytes | None, Headers | None]],
        timeout: float = 60.0,
    ) -> list[Exception | None]:
        """Produce ``(topic, value, key, headers)`` records; one outcome per record, in order."""
        futures: list[Future[Ack]] = []
        for topic, value, key, headers in records:
            future: Future[Ack] = Future()
            self._future_send(topic, value, key, headers, _resolver(future))
            futures.append(future)
        self._producer.flush(timeout)
        outcomes: list[Exception | None] = []
        for future in futures:
            try:
                future.result(timeout)
                outcomes.append(None)
            except Exception as exc:  # reported per record, never raised
                outcomes.append(exc)
        return outcomes

    def flush(self, timeout: float = 60.0) -> int:
        """Wait for every queued record; returns how many are still undelivered."""
        remaining: int = self._producer.flush(timeout)
        return remaining

    def close(self, timeout: float = 30.0) -> None:
        """Flush and stop the callback thread."""
        remaining = self.flush(timeout)
        if remaining:
            log.warning("producer closed with undelivered records", extra={"remaining": remaining})
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
