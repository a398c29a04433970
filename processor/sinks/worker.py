"""The sink worker: drain one target's egress topic into its sink, at least once.

One consumer group per target (``kbridge-sink-<target>``), so targets never share a backlog
and a slow or failing target never delays another. This module is the poll loop only: it
moves consumed records into per-partition buffers (:mod:`processor.sinks.partitions`),
applies the pauses and commits the partition tasks (:mod:`processor.sinks.drain`) asked for,
and handles rebalances. It keeps polling (and stays in the group) while a partition waits out
a long backoff; a partition whose buffer is full, or whose batch waits longer than
``pause_after`` seconds, is paused.

A partition's offsets are committed only after its batch was delivered or dead-lettered
(dead letters acknowledged by Kafka, :class:`~processor.sinks.deadletter.DeadLetterWriter`),
in order; failed commits are retried (:mod:`processor.sinks.commits`). A revoked partition's
pending commits are made in the revoke callback; its running batch is abandoned. Stopping
(SIGTERM) abandons in-flight batches without committing them: their records are redelivered
to the next owner.

The target's configuration is read from a config snapshot at every batch; when it changed,
a new sink is built and the old one closed once its last batch finished
(:mod:`processor.sinks.leases`), so changes apply live without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from processor.kafka.config import KafkaClientConfig
from processor.kafka.consumer import make_consumer
from processor.kafka.producer import Producer
from processor.kafka.topics import target_dlq_topic, target_topic
from processor.sinks.base import Delivery, Sink, SinkContext, build_sink
from processor.sinks.commits import CommitOutcome, OffsetCommitter
from processor.sinks.deadletter import DeadLetterWriter
from processor.sinks.drain import PartitionDrain, WorkerSettings
from processor.sinks.leases import ConfigView, SinkBuilder, SinkLeases, SnapshotFn
from processor.sinks.metrics import SinkMetrics
from processor.sinks.partitions import Key, PartitionTable
from processor.sinks.records import to_delivery
from processor.sinks.retry import RetryLimits
from processor.trace import writer as trace_writer

__all__ = ["ConfigView", "SinkWorker", "WorkerSettings", "default_builder", "group_id"]

log = logging.getLogger(__name__)

#: Records taken from the consumer per poll (more wait in librdkafka's queue).
MAX_POLL_RECORDS = 1000
#: How long a revocation waits for a retriable commit failure to clear.
REVOKE_COMMIT_BUDGET = 3.0


def poll_batch(consumer: Consumer, limit: int, timeout: float) -> list[Message]:
    """Wait up to ``timeout`` for the first record, then take whatever else is already here.

    ``Consumer.consume(limit, timeout)`` returns only when ``limit`` records arrived or the
    timeout passed, so under light load every record sat out the whole timeout (issue 14:
    most of the sink's 722 ms p50). ``poll`` returns with the first record; the rest of the
    batch is what librdkafka has already fetched (``consume`` with no wait).
    """
    first = consumer.poll(timeout)
    if first is None:
        return []
    rest = consumer.consume(limit - 1, 0) if limit > 1 else []
    return [first, *rest]


def group_id(target: str) -> str:
    """The consumer group of a target's sink workers."""
    return f"kbridge-sink-{target}"


def default_builder(target: Any, context: SinkContext) -> Sink:
    """Build the registered sink for ``target.kind`` (all kinds imported first)."""
    import processor.sinks.kinds  # noqa: F401  (fills the registry)

    return build_sink(target.kind, target, context)


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
        self.metrics = metrics
        self._producer = producer
        self._own_producer = producer is None
        self._table = PartitionTable()
        self._leases = SinkLeases(
            target,
            snapshot=snapshot,
            builder=builder,
            clusters=clusters,
            kafka=kafka,
            publish=self._publish,
        )
        self._drain: PartitionDrain | None = None
        self._committer: OffsetCommitter | None = None
        self._commit_task: asyncio.Task[None] | None = None
        self._last_commit = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- public -------------------------------------------------------------------------

    @property
    def delivered(self) -> int:
        return self._drain.delivered if self._drain is not None else 0

    @property
    def dead_lettered(self) -> int:
        return self._drain.dead_lettered if self._drain is not None else 0

    @property
    def committed(self) -> dict[Key, int]:
        """The last offset committed per partition."""
        return self._committer.committed if self._committer is not None else {}

    async def run(self, stop: asyncio.Event) -> None:
        """Consume, deliver and commit until ``stop`` is set; then abandon in-flight work."""
        self._loop = asyncio.get_running_loop()
        if self._producer is None:
            self._producer = Producer(self.kafka)
        trace_writer.start(self.kafka, by="sink")  # docs/tracing.md
        self._drain = PartitionDrain(
            self.target,
            table=self._table,
            leases=self._leases,
            writer=DeadLetterWriter(
                self._producer,
                self.dlq_topic,
                self.target,
                retry=self.settings.dead_letter_retry,
            ),
            settings=self.settings,
            limits_for=self._limits_for,
            metrics=self.metrics,
        )
        consumer = make_consumer(
            self.kafka, group_id(self.target), **self.settings.consumer_overrides
        )
        self._committer = OffsetCommitter(
            lambda offsets: consumer.commit(offsets=offsets, asynchronous=False),
            topic=self.topic,
        )
        consumer.subscribe([self.topic], on_revoke=self._on_revoke, on_lost=self._on_lost)
        log.info("sink worker for %s started", self.target, extra={"topic": self.topic})
        warm = asyncio.create_task(self._warm_up(), name=f"warm-up {self.target}")
        try:
            while not stop.is_set():
                self._apply_commits()
                self._apply_flow_control(consumer)
                messages = await asyncio.to_thread(
                    poll_batch, consumer, MAX_POLL_RECORDS, self.settings.poll_timeout
                )
                self._dispatch(messages)
        finally:
            warm.cancel()
            await self._shutdown(consumer)

    async def _warm_up(self) -> None:
        """Build and set up the target's sink now, not on the first record.

        Setting a sink up imports its modules, opens its client or database connection and
        creates its table: paid on the first delivery, that added 0.5-1 s to the first
        events of the demo (eight sinks waking at once on two cores). Beside the poll loop,
        so a destination that is down at start delays nothing: the lease keeps retrying
        with its backoff, and the first batch waits for the same lease as before.
        """
        try:
            lease, _ = await self._leases.acquire()
        except Exception as exc:  # the first batch's acquire retries and reports it
            log.debug("warming up the sink of %s failed: %s", self.target, exc)
            return
        await self._leases.release(lease)

    # ---- poll loop ------------------------------------------------------------------------

    def _dispatch(self, messages: Sequence[Message]) -> None:
        assert self._drain is not None
        for message in messages:
            error = message.error()
            if error is not None:
                log.warning(
                    "consumer error on %s: %s", self.topic, error, extra={"topic": self.topic}
                )
                continue
            created = self._table.add(to_delivery(message))
            if created is not None:
                self._drain.start(created)

    def _apply_flow_control(self, consumer: Consumer) -> None:
        """Pause and resume partitions as their tasks want (logged at DEBUG: while a
        destination is down this flips every probe; ``kbridge_sink_partitions_paused``
        shows it)."""
        pause, resume = self._table.flow_control(self.settings.max_buffered)
        if self.metrics is not None and (pause or resume):
            self.metrics.paused.labels(self.target).set(self._table.paused_count())
        try:
            if pause:
                consumer.pause([TopicPartition(t, p) for t, p in pause])
                log.debug("paused %s", [f"{t}[{p}]" for t, p in pause])
            if resume:
                consumer.resume([TopicPartition(t, p) for t, p in resume])
                log.debug("resumed %s", [f"{t}[{p}]" for t, p in resume])
        except KafkaException as exc:  # e.g. the partition was revoked meanwhile
            log.warning("pause/resume failed: %s", exc, extra={"topic": self.topic})

    def _apply_commits(self) -> None:
        """Start committing what the partition tasks settled, without waiting for it.

        The commit runs on its own thread, one at a time (so positions reach the
        coordinator in order) and at most every ``commit_interval`` seconds, while the poll
        loop goes on: a commit round trip never delays the next record. A retriable
        failure is tried again after a backoff; newer positions recorded meanwhile replace
        it.
        """
        committer = self._committer
        if committer is None or not committer.due():
            return
        if self._commit_task is not None and not self._commit_task.done():
            return
        now = time.monotonic()
        if now - self._last_commit < self.settings.commit_interval:
            return
        positions = self._table.take_commits()
        if positions:
            self._last_commit = now
            self._commit_task = asyncio.create_task(self._commit(committer, positions))

    async def _commit(self, committer: OffsetCommitter, positions: dict[Key, int]) -> None:
        outcome = await asyncio.to_thread(committer.commit, positions)
        if outcome is CommitOutcome.RETRY:
            self._table.restore_commits(positions)

    # ---- rebalance callbacks (run on the consume() thread) ---------------------------------

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        revoked = self._table.revoke(keys, keep_commits=True)
        if self._committer is not None:
            self._committer.commit_now(self._table.take_commits(keys), REVOKE_COMMIT_BUDGET)
        self._cancel(revoked)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self._cancel(self._table.revoke(keys, keep_commits=False))  # no longer ours to commit

    def _cancel(self, revoked: list[Any]) -> None:
        loop = self._loop
        for state in revoked:
            if state.task is not None and loop is not None:
                loop.call_soon_threadsafe(state.task.cancel)
            log.info("partition %s revoked, in-flight batch abandoned", state.where())

    # ---- what partition tasks need ----------------------------------------------------------

    def _limits_for(self, delivery: Delivery) -> RetryLimits:
        rule = self.snapshot().rule(delivery.rule) if delivery.rule else None
        for entry in getattr(rule, "targets", None) or ():
            if getattr(entry, "target", None) == self.target:
                return RetryLimits.from_policy(getattr(entry, "retry", None))
        return RetryLimits()

    async def _publish(
        self, topic: str, value: bytes, headers: Sequence[tuple[str, bytes]], key: bytes | None
    ) -> None:
        assert self._producer is not None
        await self._producer.send(topic, value, key=key, headers=headers)

    # ---- shutdown ---------------------------------------------------------------------------

    async def _shutdown(self, consumer: Consumer) -> None:
        tasks = self._table.tasks()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._commit_task is not None:
            await asyncio.gather(self._commit_task, return_exceptions=True)
        if self._committer is not None:
            positions = self._table.take_commits()
            await asyncio.to_thread(self._committer.commit_now, positions, REVOKE_COMMIT_BUDGET)
        await asyncio.to_thread(consumer.close)
        await self._leases.close()
        if self._own_producer and self._producer is not None:
            await asyncio.to_thread(self._producer.close, 10.0)
        log.info(
            "sink worker for %s stopped (%d delivered, %d dead-lettered)",
            self.target,
            self.delivered,
            self.dead_lettered,
            extra={"topic": self.topic},
        )
