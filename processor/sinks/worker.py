"""The sink worker: drain one target's egress topic into its sink, at least once.

One consumer group per target (``kbridge-sink-<target>``), so targets never share a backlog
and a slow or failing target never delays another. Inside a worker, each assigned
partition has its own task and buffer: the poll loop only moves records into buffers and
applies commits, pauses and resumes, so it keeps polling (and stays in the group) while a
partition waits out a long backoff. A partition whose buffer is full, or whose batch is
waiting longer than ``pause_after`` seconds, is paused.

A partition's offsets are committed only after its batch was delivered or dead-lettered
(dead letters acknowledged by Kafka), in order. A revoked partition's pending commits are
made in the revoke callback; its running batch is abandoned. Stopping (SIGTERM) abandons
in-flight batches without committing them: their records are redelivered to the next owner.

The target's configuration is read from a config snapshot at every batch; when it changed,
a new sink is built and the old one closed once its last batch finished, so changes apply
live without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from processor.errors import InvalidEventError
from processor.events.kafka import decode as decode_event
from processor.events.kafka import encode as encode_event
from processor.kafka.config import KafkaClientConfig
from processor.kafka.consumer import make_consumer
from processor.kafka.producer import Producer
from processor.kafka.topics import target_dlq_topic, target_topic
from processor.sinks.base import Delivery, Sink, SinkContext, build_sink
from processor.sinks.batch import run_batch
from processor.sinks.deadletter import DeadLetter
from processor.sinks.metrics import SinkMetrics
from processor.sinks.retry import Backoff, RetryLimits

log = logging.getLogger(__name__)

STRUCTURED_PREFIX = "application/cloudevents"


class ConfigView(Protocol):
    """What the worker reads from a configuration snapshot (``KbridgeConfig`` fits)."""

    def target(self, name: str) -> Any: ...

    def connection(self, name: str) -> Any: ...

    def rule(self, name: str) -> Any: ...


SnapshotFn = Callable[[], ConfigView]
SinkBuilder = Callable[[Any, SinkContext], Sink]


def group_id(target: str) -> str:
    """The consumer group of a target's sink workers."""
    return f"kbridge-sink-{target}"


def default_builder(target: Any, context: SinkContext) -> Sink:
    """Build the registered sink for ``target.kind`` (all kinds imported first)."""
    import processor.sinks.kinds  # noqa: F401  (fills the registry)

    return build_sink(target.kind, target, context)


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Tuning knobs; the defaults suit production, tests shrink the waits."""

    batch_size: int | None = None
    """Records per batch per partition; ``None`` uses the target's ``batch_size`` or 500."""
    linger: float = 0.005
    poll_timeout: float = 0.2
    max_buffered: int = 5000
    pause_after: float = 1.0
    backoff: Backoff = field(default_factory=Backoff)
    dead_letter_retry: float = 2.0
    consumer_overrides: dict[str, Any] = field(default_factory=dict)


def _normalise(pairs: Any) -> list[tuple[str, bytes]]:
    """Header pairs with ``None`` or ``str`` values turned into bytes (the rare, slow path)."""
    out: list[tuple[str, bytes]] = []
    for name, header in pairs:
        if isinstance(header, str):
            header = header.encode("utf-8")
        out.append((str(name), header if header is not None else b""))
    return out


def to_delivery(message: Message) -> Delivery:
    """A consumed record as the sink contract's :class:`Delivery`.

    This runs once per record on the poll loop, so the common case (a list of
    ``(str, bytes)`` headers) takes a single comprehension.
    """
    found: Any = message.headers() or []
    if isinstance(found, dict):
        found = list(found.items())
    try:
        headers = {k: v.decode("utf-8", "replace") for k, v in found}
        raw: list[tuple[str, bytes]] = found
    except AttributeError:  # a None or str header value
        raw = _normalise(found)
        headers = {k: v.decode("utf-8", "replace") for k, v in raw}
    ts_type, ts_ms = message.timestamp()
    value = message.value() or b""
    original = None
    if headers.get("content-type", "").startswith(STRUCTURED_PREFIX):
        original = (value, raw)
        value, raw, headers = _as_binary(value, raw, headers)
    return Delivery(
        value=value,
        headers=headers,
        key=message.key(),
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        raw_headers=raw,
        timestamp=ts_ms / 1000.0 if ts_type != 0 and ts_ms > 0 else None,
        original=original,
    )


def _as_binary(
    value: bytes, raw: list[tuple[str, bytes]], headers: dict[str, str]
) -> tuple[bytes, list[tuple[str, bytes]], dict[str, str]]:
    """A structured (JSON or Avro) egress record rewritten into binary mode.

    Targets may choose ``format: structured|avro`` for their egress topic (for archival
    consumers); sinks always see the contract's binary form: ``ce_*`` headers and the data
    as the value. Records that are not valid CloudEvents are passed on unchanged, so the
    sink fails them with its own, specific error.
    """
    try:
        event = decode_event(value, raw)
    except InvalidEventError:
        return value, raw, headers
    record = encode_event(event, "binary")
    kept = [(k, v) for k, v in raw if not k.startswith("ce_") and k != "content-type"]
    binary = [*record.headers, *kept]
    if event.datacontenttype is None and not isinstance(event.data, bytes):
        binary.append(("content-type", b"application/json"))
    decoded = {k: v.decode("utf-8", "replace") for k, v in binary}
    return record.value or b"", binary, decoded


@dataclass(eq=False)
class _Partition:
    """One assigned partition: its buffer, its task and its flow-control state."""

    topic: str
    partition: int
    buffer: deque[Delivery] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    waiting: bool = False
    paused: bool = False
    revoked: bool = False

    def where(self) -> str:
        return f"{self.topic}[{self.partition}]"


@dataclass(eq=False)
class _Lease:
    sink: Sink
    users: int = 0
    retired: bool = False


class SinkWorker:
    """Runs one target's sink until :meth:`run`'s ``stop`` event is set."""

    def __init__(
        self,
        target: str,
        *,
        kafka: KafkaClientConfig,
        snapshot: SnapshotFn,
        settings: WorkerSettings | None = None,
        builder: SinkBuilder = default_builder,
        producer: Producer | None = None,
        clusters: dict[str, Any] | None = None,
        metrics: SinkMetrics | None = None,
    ) -> None:
        self.target = target
        self.topic = target_topic(target)
        self.dlq_topic = target_dlq_topic(target)
        self.kafka = kafka
        self.snapshot = snapshot
        self.settings = settings or WorkerSettings()
        self.builder = builder
        self._producer = producer
        self._own_producer = producer is None
        self._clusters = clusters or {}
        self.metrics = metrics
        self._partitions: dict[tuple[str, int], _Partition] = {}
        self._commits: dict[tuple[str, int], int] = {}
        self._commit_lock = threading.Lock()
        self._lease: _Lease | None = None
        self._lease_key: Any = None
        self._sink_lock = asyncio.Lock()
        self._rng = random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consumer: Consumer | None = None
        self.delivered = 0
        self.dead_lettered = 0
        self.committed: dict[tuple[str, int], int] = {}

    # ---- public -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Consume, deliver and commit until ``stop`` is set; then abandon in-flight work."""
        self._loop = asyncio.get_running_loop()
        if self._producer is None:
            self._producer = Producer(self.kafka)
        consumer = make_consumer(
            self.kafka, group_id(self.target), **self.settings.consumer_overrides
        )
        self._consumer = consumer
        consumer.subscribe([self.topic], on_revoke=self._on_revoke, on_lost=self._on_lost)
        log.info("sink worker for %s started", self.target, extra={"topic": self.topic})
        try:
            while not stop.is_set():
                await self._apply_commits(consumer)
                self._apply_flow_control(consumer)
                messages = await asyncio.to_thread(
                    consumer.consume, 1000, self.settings.poll_timeout
                )
                self._dispatch(messages)
        finally:
            await self._shutdown(consumer)

    # ---- poll loop ------------------------------------------------------------------------

    def _dispatch(self, messages: Sequence[Message]) -> None:
        for message in messages:
            error = message.error()
            if error is not None:
                log.warning(
                    "consumer error on %s: %s", self.topic, error, extra={"topic": self.topic}
                )
                continue
            delivery = to_delivery(message)
            key = (delivery.topic, delivery.partition)
            state = self._partitions.get(key)
            if state is None or state.revoked:
                state = _Partition(delivery.topic, delivery.partition)
                self._partitions[key] = state
                state.task = asyncio.create_task(
                    self._partition_loop(state), name=f"sink:{state.where()}"
                )
            state.buffer.append(delivery)
            state.wake.set()

    def _apply_flow_control(self, consumer: Consumer) -> None:
        pause: list[TopicPartition] = []
        resume: list[TopicPartition] = []
        for state in self._partitions.values():
            if state.revoked:
                continue
            want = state.waiting or len(state.buffer) >= self.settings.max_buffered
            if want and not state.paused:
                pause.append(TopicPartition(state.topic, state.partition))
                state.paused = True
            elif not want and state.paused:
                resume.append(TopicPartition(state.topic, state.partition))
                state.paused = False
        if self.metrics is not None and (pause or resume):
            paused = sum(1 for s in self._partitions.values() if s.paused and not s.revoked)
            self.metrics.paused.labels(self.target).set(paused)
        try:
            if pause:
                consumer.pause(pause)
                log.info("paused %s", [f"{tp.topic}[{tp.partition}]" for tp in pause])
            if resume:
                consumer.resume(resume)
                log.info("resumed %s", [f"{tp.topic}[{tp.partition}]" for tp in resume])
        except KafkaException as exc:  # e.g. the partition was revoked meanwhile
            log.warning("pause/resume failed: %s", exc, extra={"topic": self.topic})

    def _take_commits(self, only: set[tuple[str, int]] | None = None) -> list[TopicPartition]:
        with self._commit_lock:
            keys = [k for k in self._commits if only is None or k in only]
            offsets = [TopicPartition(k[0], k[1], self._commits.pop(k)) for k in keys]
        return offsets

    def _commit(self, consumer: Consumer, offsets: list[TopicPartition]) -> None:
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning(
                "commit failed (records will be redelivered): %s",
                exc,
                extra={"topic": self.topic},
            )
            return
        for tp in offsets:
            self.committed[(tp.topic, tp.partition)] = tp.offset

    async def _apply_commits(self, consumer: Consumer) -> None:
        offsets = self._take_commits()
        if offsets:
            await asyncio.to_thread(self._commit, consumer, offsets)

    # ---- rebalance callbacks (run on the consume() thread) ---------------------------------

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self._commit(consumer, self._take_commits(keys))
        self._drop(keys)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self._take_commits(keys)  # no longer ours to commit
        self._drop(keys)

    def _drop(self, keys: set[tuple[str, int]]) -> None:
        loop = self._loop
        for key in keys:
            state = self._partitions.get(key)
            if state is None:
                continue
            with self._commit_lock:
                state.revoked = True
            if state.task is not None and loop is not None:
                loop.call_soon_threadsafe(state.task.cancel)
            log.info("partition %s revoked, in-flight batch abandoned", state.where())

    # ---- partition tasks --------------------------------------------------------------------

    def _batch_size(self, target: Any) -> int:
        if self.settings.batch_size:
            return self.settings.batch_size
        return int(getattr(target, "batch_size", 0) or 500)

    async def _partition_loop(self, state: _Partition) -> None:
        failures = 0
        while not state.revoked:
            if not state.buffer:
                state.wake.clear()
                await state.wake.wait()
                continue
            lease, target = await self._acquire_sink()
            batch: list[Delivery] = []
            try:
                size = self._batch_size(target)
                if len(state.buffer) < size and self.settings.linger > 0:
                    await asyncio.sleep(self.settings.linger)
                count = min(size, len(state.buffer))
                batch = [state.buffer.popleft() for _ in range(count)]
                result = await run_batch(
                    lease.sink,
                    batch,
                    limits_for=self._limits_for,
                    wait=lambda seconds: self._wait(state, seconds),
                    backoff=self.settings.backoff,
                    rng=self._rng,
                )
                if result.dead_letters:
                    await self._send_dead_letters(state, result.dead_letters)
            except Exception as exc:
                # A bug, not a delivery failure: later offsets must not be committed past
                # this batch, so it goes back to the front of the buffer and is tried again.
                state.buffer.extendleft(reversed(batch))
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                log.exception(
                    "unexpected error on %s, retrying the batch in %.1fs: %s",
                    state.where(),
                    delay,
                    exc,
                    extra={"topic": state.topic},
                )
                await self._wait(state, delay)
                continue
            finally:
                await self._release(lease)
            failures = 0
            with self._commit_lock:  # atomic with _drop: a revoked partition never commits
                if state.revoked:
                    return
                self._commits[(state.topic, state.partition)] = batch[-1].offset + 1
            self.delivered += result.delivered
            self.dead_lettered += len(result.dead_letters)
            if self.metrics is not None:
                self.metrics.record_batch(self.target, result)

    async def _wait(self, state: _Partition, seconds: float) -> None:
        """Backoff wait; long ones pause the partition (applied by the poll loop)."""
        if seconds >= self.settings.pause_after:
            state.waiting = True
            try:
                await asyncio.sleep(seconds)
            finally:
                state.waiting = False
        else:
            await asyncio.sleep(seconds)

    def _limits_for(self, delivery: Delivery) -> RetryLimits:
        rule = self.snapshot().rule(delivery.rule) if delivery.rule else None
        for entry in getattr(rule, "targets", None) or ():
            if getattr(entry, "target", None) == self.target:
                return RetryLimits.from_policy(getattr(entry, "retry", None))
        return RetryLimits()

    async def _send_dead_letters(self, state: _Partition, letters: list[DeadLetter]) -> None:
        """Produce every dead letter and wait for Kafka; retried until acknowledged."""
        assert self._producer is not None
        pending = letters
        while pending and not state.revoked:
            now = time.time()
            results = await asyncio.gather(
                *(
                    self._producer.send(
                        self.dlq_topic,
                        letter.value,
                        key=letter.delivery.key,
                        headers=letter.headers(self.target, now),
                    )
                    for letter in pending
                ),
                return_exceptions=True,
            )
            failed = [
                letter
                for letter, r in zip(pending, results, strict=True)
                if isinstance(r, BaseException)
            ]
            for letter, r in zip(pending, results, strict=True):
                if isinstance(r, BaseException):
                    log.error(
                        "dead letter for %s not acknowledged, retrying: %s",
                        letter.delivery.where(),
                        r,
                        extra={"where": letter.delivery.where()},
                    )
                else:
                    log.warning(
                        "dead-lettered %s to %s (%s, %d attempts)",
                        letter.delivery.where(),
                        self.dlq_topic,
                        letter.condition,
                        letter.attempts,
                        extra={
                            "where": letter.delivery.where(),
                            "event_id": letter.delivery.event_id,
                        },
                    )
            pending = failed
            if pending:
                await asyncio.sleep(self.settings.dead_letter_retry)

    # ---- sink lifecycle ---------------------------------------------------------------------

    def _context(self, view: ConfigView, target: Any) -> SinkContext:
        connections: dict[str, Any] = {}
        name = getattr(target, "connection", None)
        if name:
            connection = view.connection(name)
            if connection is not None:
                connections[name] = connection
        return SinkContext(
            target_name=self.target,
            connections=connections,
            clusters=self._clusters,
            kafka=self.kafka,
            publish=self._publish,
        )

    async def _publish(
        self, topic: str, value: bytes, headers: Sequence[tuple[str, bytes]], key: bytes | None
    ) -> None:
        assert self._producer is not None
        await self._producer.send(topic, value, key=key, headers=headers)

    async def _acquire_sink(self) -> tuple[_Lease, Any]:
        """The sink for the current target config, rebuilt when the config changed."""
        delay = 0.5
        while True:
            view = self.snapshot()
            target = view.target(self.target)
            if target is None and self._lease is None:
                log.warning("target %s is not configured yet; waiting", self.target)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            async with self._sink_lock:
                if target is not None:
                    context = self._context(view, target)
                    key = (target, tuple(context.connections.items()))
                    if self._lease is None or key != self._lease_key:
                        try:
                            await self._replace_sink(target, context, key)
                        except Exception as exc:  # setup failed: try again, never drop records
                            log.error(
                                "cannot set up sink for %s: %s; retrying in %.1fs",
                                self.target,
                                exc,
                                delay,
                                extra={"topic": self.topic},
                            )
                            await asyncio.sleep(delay)
                            delay = min(delay * 2, 30.0)
                            continue
                assert self._lease is not None
                self._lease.users += 1
                return self._lease, target if target is not None else self._lease_key[0]

    async def _replace_sink(self, target: Any, context: SinkContext, key: Any) -> None:
        sink = self.builder(target, context)
        await sink.setup()
        old = self._lease
        self._lease = _Lease(sink)
        self._lease_key = key
        if old is not None:
            log.info("target %s changed: new sink in use", self.target)
            old.retired = True
            if old.users == 0:
                await old.sink.close()

    async def _release(self, lease: _Lease) -> None:
        lease.users -= 1
        if lease.retired and lease.users == 0:
            await lease.sink.close()

    # ---- shutdown ---------------------------------------------------------------------------

    async def _shutdown(self, consumer: Consumer) -> None:
        tasks = [s.task for s in self._partitions.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._apply_commits(consumer)
        await asyncio.to_thread(consumer.close)
        if self._lease is not None:
            await self._lease.sink.close()
            self._lease = None
        if self._own_producer and self._producer is not None:
            await asyncio.to_thread(self._producer.close, 10.0)
        log.info(
            "sink worker for %s stopped (%d delivered, %d dead-lettered)",
            self.target,
            self.delivered,
            self.dead_lettered,
            extra={"topic": self.topic},
        )
