"""Committing a sink worker's offsets, and retrying commits that fail for a passing reason.

Offsets are committed only after their records were delivered or dead-lettered, so a lost
commit never loses an event: it redelivers everything since the last successful commit.
Dropping a failed commit therefore turns a short coordinator outage into a burst of
duplicates (issue 21: ~15 s of traffic redelivered after a coordinator loss). Instead,
a commit failing with a *retriable* error (coordinator moving or loading, request timed out,
broker unreachable) is kept and retried with a capped backoff; a newer position recorded
meanwhile supersedes it. A commit failing because the partition is no longer ours
(rebalance in progress, generation or member fenced) cannot succeed: it is dropped and the
next owner redelivers from the last committed offset, as before.

The duplicate bound (docs/operations.md): after a crash, at most the records delivered
since the last successful commit are delivered again, i.e. about one poll interval of
traffic plus, while the coordinator is unreachable, whatever was delivered during the outage.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from processor.backoff import Backoff
from processor.sinks.partitions import Key

log = logging.getLogger(__name__)

#: Errors after which the same commit can succeed once the cluster recovers.
RETRIABLE_CODES = frozenset(
    {
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._WAIT_COORD,
        KafkaError._ALL_BROKERS_DOWN,
    }
)
#: Nothing needed committing: not an error.
NOTHING_CODES = frozenset({KafkaError._NO_OFFSET})


class CommitOutcome(Enum):
    """What became of one commit attempt."""

    COMMITTED = "committed"
    RETRY = "retry"  # failed for a passing reason: keep the positions and try again
    DROPPED = "dropped"  # cannot succeed (no longer ours): the next owner redelivers


CommitFn = Callable[[list[TopicPartition]], "list[TopicPartition] | None"]
"""A synchronous commit, e.g. ``lambda o: consumer.commit(offsets=o, asynchronous=False)``;
raises ``KafkaException`` or returns partitions whose ``error`` is set on failure."""


def classify(error: KafkaError) -> CommitOutcome:
    """Retry or drop a commit that failed with ``error``."""
    if error.code() in NOTHING_CODES:
        return CommitOutcome.COMMITTED
    if error.code() in RETRIABLE_CODES or (error.retriable() and not error.fatal()):
        return CommitOutcome.RETRY
    return CommitOutcome.DROPPED


@dataclass
class OffsetCommitter:
    """Commits positions through ``commit_offsets``; remembers when the next retry is due.

    ``committed`` holds the last position committed per partition (tests and the worker's
    ``committed`` attribute read it).
    """

    commit_offsets: CommitFn
    topic: str = ""
    base: float = 0.1
    cap: float = 5.0
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    committed: dict[Key, int] = field(default_factory=dict)
    failures: int = 0
    retry_at: float = 0.0

    def due(self) -> bool:
        """Whether a commit may be attempted now (not inside a retry backoff)."""
        return self.clock() >= self.retry_at

    def commit(self, positions: dict[Key, int]) -> CommitOutcome:
        """One synchronous commit of ``positions``; logs only when the state changes."""
        if not positions:
            return CommitOutcome.COMMITTED
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        try:
            answer = self.commit_offsets(offsets)
            errors = [tp.error for tp in answer or () if tp.error is not None]
        except KafkaException as exc:
            errors = [exc.args[0]] if exc.args and isinstance(exc.args[0], KafkaError) else []
            if not errors:
                errors = [KafkaError(KafkaError._FAIL, str(exc))]
        outcomes = {classify(e) for e in errors}
        if not errors or outcomes == {CommitOutcome.COMMITTED}:
            self._succeeded(positions)
            return CommitOutcome.COMMITTED
        outcome = CommitOutcome.RETRY if CommitOutcome.RETRY in outcomes else CommitOutcome.DROPPED
        self._failed(outcome, errors[0])
        return outcome

    def commit_now(self, positions: dict[Key, int], budget: float) -> CommitOutcome:
        """Commit, retrying retriable failures for up to ``budget`` seconds (revocation:
        the positions must be committed before the partition changes owner)."""
        deadline = self.clock() + budget
        while True:
            outcome = self.commit(positions)
            if outcome is not CommitOutcome.RETRY:
                return outcome
            pause = self.retry_at - self.clock()
            if self.clock() + max(pause, 0.0) > deadline:
                log.warning(
                    "giving up committing %s before the revocation completes; the next owner "
                    "redelivers from the last committed offset",
                    sorted(positions),
                    extra={"topic": self.topic},
                )
                return outcome
            if pause > 0:
                time.sleep(pause)

    def _succeeded(self, positions: dict[Key, int]) -> None:
        self.committed.update(positions)
        if self.failures:
            log.info(
                "offset commits succeed again (after %d failed attempts)",
                self.failures,
                extra={"topic": self.topic},
            )
        self.failures = 0
        self.retry_at = 0.0

    def _failed(self, outcome: CommitOutcome, error: KafkaError) -> None:
        if outcome is CommitOutcome.DROPPED:
            log.warning(
                "offset commit refused (%s): these partitions are no longer ours; the next "
                "owner redelivers from the last committed offset",
                error.str() if hasattr(error, "str") else error,
                extra={"topic": self.topic},
            )
            return
        self.failures += 1
        backoff = Backoff(base=self.base, cap=self.cap, jitter=0.5)
        self.retry_at = self.clock() + backoff.delay(self.failures, self.rng)
        if self.failures == 1:
            log.warning(
                "offset commit failed (%s); retrying until it succeeds",
                error.str() if hasattr(error, "str") else error,
                extra={"topic": self.topic},
            )
