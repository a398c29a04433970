"""Offset commits: retriable failures are retried, fenced ones dropped (issue 21 item 6)."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from processor.sinks.commits import CommitOutcome, OffsetCommitter, classify

KEY = ("kbridge.target.t", 0)


@dataclass
class Answer:
    error: KafkaError | None


class FakeCoordinator:
    """Fails the first ``failures`` commits with ``code``, then accepts."""

    def __init__(self, code: int, failures: int, *, per_partition: bool = False) -> None:
        self.code = code
        self.failures = failures
        self.per_partition = per_partition
        self.calls: list[list[tuple[str, int, int]]] = []

    def __call__(self, offsets: list[TopicPartition]) -> list[TopicPartition]:
        self.calls.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])
        if len(self.calls) <= self.failures:
            if self.per_partition:
                # librdkafka answers a sync commit with the partitions, errors set per partition
                return [Answer(KafkaError(self.code))]  # type: ignore[list-item]
            raise KafkaException(KafkaError(self.code))
        return offsets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    "code",
    [
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
    ],
)
def test_coordinator_trouble_is_retried(code: int) -> None:
    assert classify(KafkaError(code)) is CommitOutcome.RETRY


@pytest.mark.parametrize(
    "code",
    [
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError._ASSIGNMENT_LOST,
    ],
)
def test_a_partition_no_longer_ours_is_dropped(code: int) -> None:
    assert classify(KafkaError(code)) is CommitOutcome.DROPPED


def test_nothing_to_commit_counts_as_committed() -> None:
    assert classify(KafkaError(KafkaError._NO_OFFSET)) is CommitOutcome.COMMITTED


def test_a_retriable_failure_backs_off_then_succeeds_and_logs_once_per_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="processor.sinks.commits")
    broker = FakeCoordinator(KafkaError.COORDINATOR_NOT_AVAILABLE, failures=3)
    clock = Clock()
    committer = OffsetCommitter(broker, clock=clock, rng=random.Random(1), base=0.1, cap=5.0)
    assert committer.commit({KEY: 10}) is CommitOutcome.RETRY
    assert not committer.due() and committer.committed == {}
    waits = []
    for _ in range(2):
        waits.append(committer.retry_at - clock.now)
        clock.now = committer.retry_at
        assert committer.due()
        assert committer.commit({KEY: 12}) is CommitOutcome.RETRY
    assert waits[0] < waits[1] <= 0.4  # exponential: 0.05-0.1 s, then 0.1-0.2 s
    clock.now = committer.retry_at
    assert committer.commit({KEY: 12}) is CommitOutcome.COMMITTED
    assert committer.committed == {KEY: 12} and committer.due()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2  # one line when failing starts, one when it is over
    assert messages[0].startswith("offset commit failed")
    assert messages[1].startswith("offset commits succeed again (after 3 failed attempts)")


def test_per_partition_errors_in_the_answer_count_as_failures() -> None:
    broker = FakeCoordinator(KafkaError.NOT_COORDINATOR, failures=1, per_partition=True)
    committer = OffsetCommitter(broker, clock=Clock())
    assert committer.commit({KEY: 3}) is CommitOutcome.RETRY
    assert committer.committed == {}


def test_a_fenced_commit_is_dropped_without_backoff() -> None:
    broker = FakeCoordinator(KafkaError.ILLEGAL_GENERATION, failures=1)
    committer = OffsetCommitter(broker, clock=Clock())
    assert committer.commit({KEY: 3}) is CommitOutcome.DROPPED
    assert committer.due() and committer.committed == {}


def test_commit_now_retries_within_its_budget() -> None:
    broker = FakeCoordinator(KafkaError.REQUEST_TIMED_OUT, failures=2)
    committer = OffsetCommitter(broker, base=0.01, cap=0.02)
    assert committer.commit_now({KEY: 7}, budget=2.0) is CommitOutcome.COMMITTED
    assert len(broker.calls) == 3 and committer.committed == {KEY: 7}


def test_commit_now_gives_up_when_the_budget_is_spent() -> None:
    broker = FakeCoordinator(KafkaError.REQUEST_TIMED_OUT, failures=100)
    committer = OffsetCommitter(broker, base=0.05, cap=0.05)
    assert committer.commit_now({KEY: 7}, budget=0.2) is CommitOutcome.RETRY
    assert 2 <= len(broker.calls) <= 8 and committer.committed == {}
