"""The native engine's offset commits: an asynchronous commit that failed is sent again.

librdkafka reports an asynchronous commit's outcome to ``on_commit`` (served inside
``consume``). These tests call that callback as librdkafka would, with the outcomes a
coordinator move or a rebalance produce; the commit loop against a real broker is covered
by tests/e2e/test_router_guarantees.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest
from confluent_kafka import KafkaError, TopicPartition

from processor.kafka import KafkaClientConfig
from processor.router.engines.native import NativeRouter
from processor.router.live import LiveTable

TOPIC = "kbridge.bus.orders"


@dataclass
class PartitionOutcome:
    """One partition of a commit's answer, as librdkafka fills ``TopicPartition``."""

    topic: str
    partition: int
    offset: int
    error: KafkaError | None


def router_with_commit_sent(offset: int) -> NativeRouter:
    """A router that routed up to ``offset`` on partition 0 and sent that commit."""
    r = NativeRouter(KafkaClientConfig(), LiveTable())
    r._committed[(TOPIC, 0)] = offset
    return r


def test_a_failed_commit_is_queued_again() -> None:
    r = router_with_commit_sent(120)
    r._on_commit(KafkaError(KafkaError.NOT_COORDINATOR), [TopicPartition(TOPIC, 0, 120)])
    assert r._uncommitted == {(TOPIC, 0): 120}


def test_a_failed_partition_inside_a_successful_request_is_queued_again() -> None:
    r = router_with_commit_sent(120)
    r._committed[(TOPIC, 1)] = 40
    # confluent-kafka's TopicPartition.error is read-only: a stand-in with the same fields
    failed = PartitionOutcome(TOPIC, 1, 40, KafkaError(KafkaError.REBALANCE_IN_PROGRESS))
    r._on_commit(None, [TopicPartition(TOPIC, 0, 120), failed])  # type: ignore[list-item]
    assert r._uncommitted == {(TOPIC, 1): 40}


def test_a_superseded_or_revoked_offset_is_not_committed_again() -> None:
    r = router_with_commit_sent(120)
    r._committed[(TOPIC, 0)] = 180  # routed further since: 180 is queued by then
    r._uncommitted[(TOPIC, 0)] = 180
    r._on_commit(
        KafkaError(KafkaError.REQUEST_TIMED_OUT),
        [TopicPartition(TOPIC, 0, 120), TopicPartition(TOPIC, 7, 5)],  # 7: not ours any more
    )
    assert r._uncommitted == {(TOPIC, 0): 180}


def test_nothing_to_commit_is_not_a_failure() -> None:
    r = router_with_commit_sent(120)
    r._on_commit(KafkaError(KafkaError._NO_OFFSET), [TopicPartition(TOPIC, 0, 120)])
    assert r._uncommitted == {}


def test_a_failing_spell_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    r = router_with_commit_sent(120)
    caplog.set_level(logging.DEBUG, logger="processor.router.engines.native")
    for _ in range(5):
        r._uncommitted.clear()
        r._on_commit(KafkaError(KafkaError.NOT_COORDINATOR), [TopicPartition(TOPIC, 0, 120)])
    r._on_commit(None, [TopicPartition(TOPIC, 0, 120)])
    warnings = [rec for rec in caplog.records if rec.levelno == logging.WARNING]
    infos = [rec for rec in caplog.records if rec.levelno == logging.INFO]
    assert len(warnings) == 1 and "offset commit failed" in warnings[0].getMessage()
    assert [rec.getMessage() for rec in infos] == ["offset commits succeed again"]
