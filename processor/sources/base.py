"""The source contract: something outside Kafka becomes CloudEvents on a bus's ingress topic.

A source's life is ``setup()`` (check configuration, create topics), ``run()`` (consume until
``stop()``; broker sessions are retried with backoff) and ``stop()`` (finish what is in
flight, then return). The guarantee every source keeps is at-least-once: an upstream message
is acknowledged to its broker (MQTT PUBACK, AMQP ack, JetStream ack, Kafka commit) only
after Kafka acknowledged the event with acks=all, so a crash or a clean stop can duplicate
but never lose. Input that cannot become a CloudEvent is not dropped: it goes to the bus
dead-letter topic with ``kbridge-error-code``, ``kbridge-error-message`` and
``kbridge-failed-stage`` headers, and is then acknowledged upstream like any other message.

Subclasses implement :meth:`Source.session`: one connection's lifetime. :meth:`Source.run`
calls it again after a retriable failure, with exponential backoff and full jitter
(:class:`Backoff`); a :class:`~processor.errors.FatalError` ends the run.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ClassVar
from urllib.parse import urlsplit

from processor.backoff import Backoff as BackoffPolicy
from processor.backoff import BackoffCounter
from processor.errors import FatalError, KbridgeError, RetriableError, is_retriable
from processor.events import CloudEvent, encode
from processor.kafka import headers as h
from processor.kafka.producer import Ack, AsyncSender, Headers, send_record
from processor.kafka.topics import bus_dlq_topic, bus_topic
from processor.netguard import check_host
from processor.trace import writer as trace_writer

log = logging.getLogger(__name__)


Publisher = AsyncSender
"""What a source needs from Kafka: :class:`processor.kafka.producer.Producer` fits."""


class Backoff(BackoffCounter):
    """Reconnect waits: ``initial`` doubling to ``maximum``, equal jitter (one backoff:
    :mod:`processor.backoff`); ``reset()`` after a healthy session."""

    def __init__(self, initial: float = 0.2, maximum: float = 30.0, factor: float = 2.0):
        super().__init__(BackoffPolicy(base=initial, cap=maximum, factor=factor, jitter=0.5))


class Source(abc.ABC):
    """One configured source publishing to ``kbridge.bus.<bus>``.

    ``config`` is the source's validated model from :mod:`processor.config.sources`.
    """

    kind: ClassVar[str]

    def __init__(self, config: Any, publisher: Publisher, *, backoff: Backoff | None = None):
        self.config = config
        self.name: str = config.name
        self.bus: str = config.bus
        self.topic = bus_topic(self.bus)
        self.dlq_topic = bus_dlq_topic(self.bus)
        self.publisher = publisher
        self.backoff = backoff or Backoff()
        self.stopping = asyncio.Event()
        self.published = 0
        self.dead_lettered = 0
        self.session_failures = 0
        """Sessions that failed and were retried (``kbridge_source_session_failures``)."""

    async def setup(self) -> None:  # noqa: B027 - optional hook
        """Validate and prepare (topics, parsed expressions) before :meth:`run`."""

    async def vet_url(self, url: str, default_port: int, what: str) -> None:
        """SSRF guard for broker sources (MQTT, AMQP, NATS): every host of ``url`` (a
        comma-separated list of URLs, as NATS takes) must resolve to public addresses,
        unless the source sets ``allow_private_network``. A refusal is fatal (``ssrf-refused``)
        and is checked before each session, so a name that later resolves privately is
        refused too."""
        if getattr(self.config, "allow_private_network", False):
            return
        for part in url.split(","):
            parsed = urlsplit(part.strip())
            if parsed.hostname:
                await check_host(
                    parsed.hostname,
                    parsed.port or default_port,
                    allow_private_network=False,
                    action=f"connect to {what}",
                )

    @abc.abstractmethod
    async def session(self) -> None:
        """Connect, consume until :attr:`stopping` is set, acknowledge only after Kafka did.

        Return normally when stopping; raise when the connection failed (retried).
        """

    async def run(self) -> None:
        """Run sessions until :meth:`stop`, reconnecting with backoff on retriable failures."""
        while not self.stopping.is_set():
            try:
                await self.session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, FatalError) or not is_retriable(exc):
                    log.error(
                        "source failed permanently",
                        extra={"source": self.name, "error": str(exc)},
                    )
                    raise
                self.session_failures += 1
                delay = self.backoff.next_delay()
                log.warning(
                    "source session failed; reconnecting",
                    extra={"source": self.name, "error": repr(exc), "delay_s": round(delay, 2)},
                )
                await self.sleep_unless_stopping(delay)

    async def stop(self) -> None:
        """Ask :meth:`run` to finish; in-flight messages are settled before it returns."""
        self.stopping.set()

    async def pump(self, consume: Coroutine[Any, Any, None], window: AckWindow) -> None:
        """Run ``consume`` until it fails or :meth:`stop`; settle ``window`` accordingly.

        On stop, in-flight publishes finish and are acknowledged upstream before returning
        (nothing acknowledged is lost); on failure they are abandoned (the broker redelivers).
        """
        consumer = asyncio.create_task(consume)
        stop = asyncio.create_task(self.stopping.wait())
        failed = asyncio.create_task(window.failed.wait())
        try:
            await asyncio.wait({consumer, stop, failed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            failed.cancel()
            if not consumer.done():
                consumer.cancel()
                await asyncio.gather(consumer, return_exceptions=True)
        if window.failed.is_set():
            # a publish failed: give up the connection so the broker redelivers the rest
            await window.abort()
            window.raise_failure()
        if self.stopping.is_set() and (consumer.cancelled() or consumer.exception() is None):
            await window.drain()
            return
        try:
            consumer.result()
            raise RetriableError("the upstream subscription ended without an error")
        finally:
            await window.abort()

    async def sleep_unless_stopping(self, seconds: float) -> None:
        """Sleep, but wake up as soon as :meth:`stop` was called."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    async def publish(self, event: CloudEvent) -> Ack:
        """Produce ``event`` (binary mode, keyed by its partition key) and wait for the ack."""
        record = encode(event, "binary")
        source_header = [(h.SOURCE, self.name.encode())]
        started = time.time()
        ack = await send_record(self.publisher, self.topic, record, source_header)
        self.published += 1
        if trace_writer.hooks_on():  # trace records and spans: docs/tracing.md
            sent = [(event.id, None, None, record.headers)]
            trace_writer.published(self.bus, sent, [ack], started, by=f"source:{self.name}")
        return ack

    async def dead_letter(
        self,
        value: bytes | None,
        error: BaseException,
        *,
        stage: h.Stage,
        key: bytes | None = None,
        headers: Headers = (),
        where: str | None = None,
    ) -> Ack:
        """Produce input that could not become an event to the bus dead-letter topic.

        The headers are :func:`processor.kafka.headers.dead_letter_headers`' (the same as
        the router's bus dead letters, plus ``kbridge-source``); ``where`` is the upstream
        Kafka record's ``topic[partition]@offset`` when the input came from Kafka.
        """
        code = error.code if isinstance(error, KbridgeError) else type(error).__name__
        message = h.error_message(str(error) or type(error).__name__)
        all_headers = h.dead_letter_headers(
            headers,
            code=code,
            message=message,
            stage=stage,
            bus=self.bus,
            source=self.name,
            where=where,
        )
        ack = await self.publisher.send(self.dlq_topic, value, key, all_headers)
        self.dead_lettered += 1
        log.warning(
            "input dead-lettered",
            extra={"source": self.name, "stage": stage, "code": code, "error": message},
        )
        return ack

    async def forward(
        self,
        build: Callable[[], CloudEvent],
        raw: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers = (),
        where: str | None = None,
    ) -> Ack:
        """Build an event from upstream input and publish it, or dead-letter ``raw``.

        ``build`` raising :class:`~processor.errors.FatalError` (or pydantic's ValueError)
        means the input is malformed: it goes to the dead-letter topic. Kafka failures
        propagate (retriable: the session reconnects and the input is redelivered).
        """
        try:
            event = build()
        except (FatalError, ValueError) as exc:
            return await self.dead_letter(
                raw, exc, stage="decode", key=key, headers=headers, where=where
            )
        return await self.publish(event)


class AckWindow:
    """Up to ``limit`` publishes in flight; upstream acks happen in arrival order.

    Ordering holds because the idempotent producer keeps per-partition order for in-flight
    records and acks are chained: message n is acknowledged only after n-1 was. If a publish
    fails, it and everything after it stay unacknowledged (the broker redelivers them).
    """

    def __init__(self, limit: int = 256) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tail: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self.failed = asyncio.Event()
        self._settling: set[asyncio.Task[Any]] = set()
        self._coroutines: dict[asyncio.Task[Any], Coroutine[Any, Any, Any]] = {}
        """Set as soon as a publish or ack failed (the session should end)."""

    async def submit(
        self,
        publish: Awaitable[Any],
        ack: Callable[[], Awaitable[None] | None],
        nack: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        """Start ``publish``; call ``ack`` once it and every earlier one succeeded.

        ``nack`` (optional) runs instead when the message will not be acknowledged (its
        publish or an earlier one failed, or the window was aborted), for brokers that
        redeliver sooner when told (JetStream ``nak``).
        """
        try:
            self.raise_failure()
            await self._slots.acquire()
        except BaseException:
            if asyncio.iscoroutine(publish):
                publish.close()  # refused: never started, and no "never awaited" warning
            raise
        task = asyncio.create_task(self._settle(self._tail, publish, ack, nack))
        if asyncio.iscoroutine(publish):
            self._coroutines[task] = publish
        self._tail = task
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def _settle(
        self,
        previous: asyncio.Task[None] | None,
        publish: Awaitable[Any],
        ack: Callable[[], Awaitable[None] | None],
        nack: Callable[[], Awaitable[None] | None] | None,
    ) -> None:
        acked = False
        try:
            await publish
            if previous is not None:
                # wait without re-raising its exception: one failure would otherwise grow one
                # traceback through every later task of the window
                await asyncio.wait({previous})
                if previous.cancelled() or previous.exception() is not None:
                    raise RetriableError("an earlier message was not acknowledged")
            acked = True
            result = ack()
            if result is not None:
                await result
        except BaseException:
            if nack is not None and not acked:
                current = asyncio.current_task()
                if current is not None:
                    self._settling.add(current)  # abort() lets the nack finish
                with contextlib.suppress(Exception):
                    result = nack()
                    if result is not None:
                        await result
            raise

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._settling.discard(task)
        coroutine = self._coroutines.pop(task, None)
        if coroutine is not None and inspect.getcoroutinestate(coroutine) == "CORO_CREATED":
            coroutine.close()  # cancelled before it started: no "never awaited" warning
        self._slots.release()
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()
            self.failed.set()

    def raise_failure(self) -> None:
        """Re-raise the first failed publish or ack, ending the session."""
        if self._failure is not None:
            raise self._failure

    async def drain(self) -> None:
        """Wait for everything in flight (a clean stop loses nothing acknowledged)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.raise_failure()

    async def abort(self) -> None:
        """Cancel what is in flight (the broker will redeliver); nacks under way finish."""
        for task in list(self._tasks):
            if task not in self._settling:
                task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


_REGISTRY: dict[str, type[Source]] = {}


def register_source(cls: type[Source]) -> type[Source]:
    """Class decorator: ``kbridge source`` runs ``cls`` for sources of ``cls.kind``."""
    _REGISTRY[cls.kind] = cls
    return cls


def source_class(kind: str) -> type[Source]:
    """The implementation of ``kind``; importing :mod:`processor.sources` fills the registry."""
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise FatalError(
            f"no source implementation for kind {kind!r} (webhook kinds run in the gateway)",
            code="config",
        ) from None
