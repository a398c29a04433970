"""The sink worker's per-partition state machine, free of Kafka so it is tested without a broker.

Each assigned partition owns a buffer of consumed records, an event its task waits on, and
three flags: ``waiting`` (its batch sleeps out a long backoff), ``paused`` (the consumer was
told to stop fetching it) and ``revoked`` (no longer ours: its task must stop and its
offsets must never be committed). :class:`PartitionTable` holds them all and makes the
decisions the poll loop applies to the consumer:

* which partitions to pause or resume (a long wait, or a full buffer);
* which offsets to commit: a partition records its next offset only after its batch was
  delivered or dead-lettered, and the record is taken atomically with revocation, so a
  revoked partition never commits (the lock matters: rebalance callbacks run on the
  consumer's thread, the partition tasks on the event loop).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from processor.sinks.base import Delivery

Key = tuple[str, int]
"""(topic, partition)."""


@dataclass(eq=False)
class Partition:
    """One assigned partition: its buffer, its task's wake-up event and its flags."""

    topic: str
    partition: int
    buffer: deque[Delivery] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    waiting: bool = False
    paused: bool = False
    revoked: bool = False

    @property
    def key(self) -> Key:
        return (self.topic, self.partition)

    def where(self) -> str:
        return f"{self.topic}[{self.partition}]"

    def take(self, size: int) -> list[Delivery]:
        """Up to ``size`` buffered records, oldest first: whatever is there, no waiting.

        Batches adapt to load this way: under light load a batch is the one record that
        just arrived; under heavy load the buffer filled while the previous batch was out.
        """
        count = min(size, len(self.buffer))
        return [self.buffer.popleft() for _ in range(count)]

    def put_back(self, batch: list[Delivery]) -> None:
        """Return a batch to the front of the buffer (it must be tried again, in order)."""
        self.buffer.extendleft(reversed(batch))


class PartitionTable:
    """All partitions of one worker, their pending commit positions and flow control."""

    def __init__(self) -> None:
        self._partitions: dict[Key, Partition] = {}
        self._commits: dict[Key, int] = {}
        self._lock = threading.Lock()

    def add(self, delivery: Delivery) -> Partition | None:
        """Buffer ``delivery``; return its partition if it is new (the caller starts a task)."""
        key = (delivery.topic, delivery.partition)
        state = self._partitions.get(key)
        created = None
        if state is None or state.revoked:
            state = created = Partition(delivery.topic, delivery.partition)
            self._partitions[key] = state
        state.buffer.append(delivery)
        state.wake.set()
        return created

    def flow_control(self, max_buffered: int) -> tuple[list[Key], list[Key]]:
        """Partitions to pause and to resume now; their ``paused`` flags are updated."""
        pause: list[Key] = []
        resume: list[Key] = []
        for state in self._partitions.values():
            if state.revoked:
                continue
            want = state.waiting or len(state.buffer) >= max_buffered
            if want and not state.paused:
                pause.append(state.key)
                state.paused = True
            elif not want and state.paused:
                resume.append(state.key)
                state.paused = False
        return pause, resume

    def paused_count(self) -> int:
        return sum(1 for s in self._partitions.values() if s.paused and not s.revoked)

    def done(self, state: Partition, next_offset: int) -> bool:
        """A batch ending before ``next_offset`` is settled: commit up to it, unless revoked.

        Returns ``False`` when the partition was revoked meanwhile (the task must stop).
        """
        with self._lock:
            if state.revoked:
                return False
            self._commits[state.key] = next_offset
            return True

    def take_commits(self, only: set[Key] | None = None) -> dict[Key, int]:
        """The commit positions recorded since the last call (optionally only ``only``)."""
        with self._lock:
            keys = [k for k in self._commits if only is None or k in only]
            return {k: self._commits.pop(k) for k in keys}

    def restore_commits(self, positions: dict[Key, int]) -> None:
        """Put back positions whose commit failed, unless newer ones were recorded or the
        partition was revoked meanwhile (positions only move forward)."""
        with self._lock:
            for key, offset in positions.items():
                state = self._partitions.get(key)
                if state is None or state.revoked:
                    continue
                if self._commits.get(key, -1) < offset:
                    self._commits[key] = offset

    def revoke(self, keys: Iterable[Key], *, keep_commits: bool) -> list[Partition]:
        """Mark ``keys`` revoked; their recorded positions are dropped unless ``keep_commits``
        (the caller then commits them before the revocation completes). Returns the states."""
        revoked = []
        with self._lock:
            for key in keys:
                if not keep_commits:
                    self._commits.pop(key, None)
                state = self._partitions.get(key)
                if state is not None and not state.revoked:
                    state.revoked = True
                    revoked.append(state)
        return revoked

    def tasks(self) -> list[asyncio.Task[None]]:
        return [s.task for s in self._partitions.values() if s.task is not None]
