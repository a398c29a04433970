"""Replay: re-send archived ingress events so that one rule (or every rule) sees them again.

The ingress topic is the archive (its retention is the bus's ``retention``). Replayed
records go back to the same topic and partition, keyed as before, marked with
``kbridge-replay`` (the replay id) and, for a one-rule replay, ``kbridge-replay-rule``: the
routing core then lets only that rule match. Records that are themselves replays are
skipped, so replaying twice never snowballs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import Consumer, TopicPartition

from processor.kafka.config import KafkaClientConfig
from processor.kafka.headers import REPLAY as REPLAY_HEADER
from processor.kafka.headers import REPLAY_RULE as REPLAY_RULE_HEADER
from processor.kafka.producer import Producer
from processor.kafka.topics import bus_topic

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (done, total) while replaying."""


@dataclass(frozen=True)
class ReplayPlan:
    """Where a replay starts and ends, per partition: [start, end)."""

    topic: str
    ranges: dict[int, tuple[int, int]]

    @property
    def total(self) -> int:
        """Upper bound of records to scan."""
        return sum(max(end - start, 0) for start, end in self.ranges.values())


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def plan_replay(kafka: KafkaClientConfig, bus: str, start: datetime, end: datetime) -> ReplayPlan:
    """Locate the offsets of [start, end) in the bus's ingress topic (offsets_for_times)."""
    topic = bus_topic(bus)
    consumer = Consumer({**kafka.librdkafka(), "group.id": f"kbridge-replay-{uuid.uuid4().hex}"})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            raise ValueError(f"bus {bus!r} has no ingress topic {topic}")
        partitions = sorted(metadata.topics[topic].partitions)
        starts = consumer.offsets_for_times(
            [TopicPartition(topic, p, _millis(start)) for p in partitions], timeout=10
        )
        ends = consumer.offsets_for_times(
            [TopicPartition(topic, p, _millis(end)) for p in partitions], timeout=10
        )
        ranges: dict[int, tuple[int, int]] = {}
        for first, last in zip(starts, ends, strict=True):
            _low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, first.partition), timeout=10
            )
            begin = first.offset if first.offset >= 0 else high
            finish = last.offset if last.offset >= 0 else high
            ranges[first.partition] = (begin, finish)
        return ReplayPlan(topic, ranges)
    finally:
        consumer.close()


def replay(
    kafka: KafkaClientConfig,
    plan: ReplayPlan,
    *,
    rule: str | None = None,
    progress: Progress | None = None,
    replay_id: str | None = None,
) -> int:
    """Re-send the planned records; returns how many were replayed."""
    replay_id = replay_id or uuid.uuid4().hex
    consumer = Consumer(
        {
            **kafka.librdkafka(),
            "group.id": f"kbridge-replay-{replay_id}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    producer = Producer(kafka)
    todo = {p: r for p, r in plan.ranges.items() if r[1] > r[0]}
    consumer.assign([TopicPartition(plan.topic, p, start) for p, (start, _) in todo.items()])
    scanned = sent = 0
    marks: list[tuple[str, bytes | str | None]] = [(REPLAY_HEADER, replay_id.encode())]
    if rule is not None:
        marks.append((REPLAY_RULE_HEADER, rule.encode()))
    try:
        while todo:
            for msg in consumer.consume(1000, timeout=1.0):
                partition = msg.partition()
                if msg.error() is not None or partition not in todo:
                    continue
                offset = msg.offset() or 0
                end = todo[partition][1]
                if offset >= end:
                    continue
                scanned += 1
                headers: list[tuple[str, bytes | str | None]] = list(
                    msg.headers() or []  # type: ignore[arg-type]  # always a list here
                )
                if not any(name == REPLAY_HEADER for name, _ in headers):
                    producer.produce(
                        plan.topic, msg.value(), msg.key(), headers + marks, partition=partition
                    )
                    sent += 1
                if offset + 1 >= end:
                    del todo[partition]
                if progress is not None:
                    progress(scanned, plan.total)
        remaining = producer.flush(60)
        if remaining:
            raise RuntimeError(f"{remaining} replayed records were not acknowledged")
    finally:
        producer.close()
        consumer.close()
    log.info("replay done", extra={"replay_id": replay_id, "sent": sent, "topic": plan.topic})
    return sent
