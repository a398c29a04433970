"""One partition's task: take a batch from its buffer, deliver it, record the commit position.

The worker starts one :class:`PartitionDrain` task per assigned partition; the tasks never
touch the consumer (the poll loop applies their pauses and commits), so a partition waiting
out a long backoff never stops the worker from polling and staying in its group.

A batch is what the buffer holds when the task gets to it (up to the batch size): no linger.
Under light load a record goes out the moment it arrives; under load the buffer fills while
the previous batch is out, so batches grow by themselves.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from processor.backoff import Backoff as BackoffPolicy
from processor.backoff import BackoffCounter
from processor.sinks.base import Delivery
from processor.sinks.batch import OUTAGE_BACKOFF, BatchResult, run_batch
from processor.sinks.deadletter import DeadLetter, DeadLetterWriter, error_code, error_message
from processor.sinks.leases import SinkLeases
from processor.sinks.metrics import SinkMetrics
from processor.sinks.outage import DestinationHealth
from processor.sinks.partitions import Partition, PartitionTable
from processor.sinks.retry import Backoff, RetryLimits
from processor.trace import writer as trace_writer

log = logging.getLogger(__name__)

UNEXPECTED_ERROR_BACKOFF = BackoffPolicy(base=1.0, cap=30.0, jitter=0.0)
"""Retrying a batch after a bug: 1 s doubling to 30 s (:mod:`processor.backoff`)."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Tuning knobs; the defaults suit production, tests shrink the waits."""

    batch_size: int | None = None
    """Records per batch per partition; ``None`` uses the target's ``batch_size`` or 500."""
    linger: float = 0.0
    """Seconds a batch smaller than ``batch_size`` waits to fill; 0 (the default) sends at
    once: batches grow by themselves under load (see the module docstring)."""
    poll_timeout: float = 0.2
    """Longest wait for a first record; a poll returns as soon as one arrives."""
    max_buffered: int = 5000
    pause_after: float = 1.0
    backoff: Backoff = field(default_factory=Backoff)
    outage_backoff: Backoff = OUTAGE_BACKOFF
    """Wait between attempts while the whole destination is unreachable (capped at 2 s)."""
    dead_letter_retry: float = 2.0
    commit_interval: float = 0.1
    """Least time between two offset commits: settled positions are committed at most this
    late (the duplicate bound after a crash), and a busy worker does not send the group
    coordinator a commit per tiny batch. It never delays a delivery."""
    consumer_overrides: dict[str, Any] = field(default_factory=dict)


LimitsFor = Callable[[Delivery], RetryLimits]


def trace_dead_letters(letters: list[DeadLetter]) -> None:
    """Trace records and spans for dead letters Kafka acknowledged (docs/tracing.md)."""
    if not trace_writer.hooks_on():
        return
    for letter in letters:
        trace_writer.dead_lettered(
            letter.delivery,
            attempts=letter.attempts,
            code=error_code(letter.error),
            message=error_message(letter.error),
            condition=letter.condition,
        )


class PartitionDrain:
    """Runs partition tasks for one target; counts what they delivered and dead-lettered."""

    def __init__(
        self,
        target: str,
        *,
        table: PartitionTable,
        leases: SinkLeases,
        writer: DeadLetterWriter,
        settings: WorkerSettings,
        limits_for: LimitsFor,
        metrics: SinkMetrics | None = None,
    ) -> None:
        self.target = target
        self.table = table
        self.leases = leases
        self.writer = writer
        self.settings = settings
        self.limits_for = limits_for
        self.metrics = metrics
        self.rng = random.Random()
        self.health = DestinationHealth(target)
        if metrics is not None:
            up = metrics.destination_up.labels(target)
            up.set(1)
            self.health.on_change = lambda reachable: up.set(1 if reachable else 0)
        self.delivered = 0
        self.dead_lettered = 0

    def start(self, state: Partition) -> None:
        """Start ``state``'s task (on the running loop)."""
        state.task = asyncio.create_task(self.run(state), name=f"sink:{state.where()}")

    def _batch_size(self, target: Any) -> int:
        if self.settings.batch_size:
            return self.settings.batch_size
        return int(getattr(target, "batch_size", 0) or 500)

    async def run(self, state: Partition) -> None:
        """Deliver ``state``'s buffer batch by batch until the partition is revoked."""
        errors = BackoffCounter(UNEXPECTED_ERROR_BACKOFF)
        while not state.revoked:
            if not state.buffer:
                state.wake.clear()
                await state.wake.wait()
                continue
            lease, target = await self.leases.acquire()
            batch: list[Delivery] = []
            try:
                size = self._batch_size(target)
                if len(state.buffer) < size and self.settings.linger > 0:
                    await asyncio.sleep(self.settings.linger)
                batch = state.take(size)
                result = await run_batch(
                    lease.sink,
                    batch,
                    limits_for=self.limits_for,
                    wait=lambda seconds: self.wait(state, seconds),
                    backoff=self.settings.backoff,
                    rng=self.rng,
                    health=self.health,
                    outage_backoff=self.settings.outage_backoff,
                )
                if result.dead_letters:
                    await self.writer.write(result.dead_letters, lambda: not state.revoked)
                    trace_dead_letters(result.dead_letters)
            except Exception as exc:
                # A bug, not a delivery failure: later offsets must not be committed past
                # this batch, so it goes back to the front of the buffer and is tried again.
                state.put_back(batch)
                delay = errors.next_delay()
                log.exception(
                    "unexpected error on %s, retrying the batch in %.1fs: %s",
                    state.where(),
                    delay,
                    exc,
                    extra={"topic": state.topic},
                )
                await self.wait(state, delay)
                continue
            finally:
                await self.leases.release(lease)
            errors.reset()
            if not self.table.done(state, batch[-1].offset + 1):
                return  # revoked meanwhile: the next owner redelivers; never commit
            self._count(result)

    def _count(self, result: BatchResult) -> None:
        self.delivered += result.delivered
        self.dead_lettered += len(result.dead_letters)
        if self.metrics is not None:
            self.metrics.record_batch(self.target, result)

    async def wait(self, state: Partition, seconds: float) -> None:
        """Backoff wait; long ones pause the partition (applied by the poll loop)."""
        if seconds >= self.settings.pause_after:
            state.waiting = True
            try:
                await asyncio.sleep(seconds)
            finally:
                state.waiting = False
        else:
            await asyncio.sleep(seconds)
