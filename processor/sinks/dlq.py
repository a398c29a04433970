"""Reading and redriving a target's dead-letter topic (``kbridge dlq list|redrive``).

Listing reads the topic from its start without joining a group, so it never moves anyone's
position. Redriving puts dead letters back on the target's egress topic unchanged (same
key and value, the dead-letter headers removed) so the sink worker delivers them again
under the rule's retry policy. Redrive remembers how far it got in its own consumer group
(``kbridge-redrive-<target>``, committed after Kafka acknowledged the re-sent records),
so running it twice does not send the same letter twice; ``since`` starts from a point in
time instead, for letters already redriven once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, Message, TopicPartition

from processor.config.durations import parse_duration
from processor.errors import KbridgeError, RetriableError
from processor.kafka.config import KafkaClientConfig
from processor.kafka.consumer import make_consumer
from processor.kafka.headers import ATTEMPTS, ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_CONDITION, RULE
from processor.kafka.producer import Producer
from processor.kafka.topics import target_dlq_topic, target_topic
from processor.sinks.deadletter import strip_dead_letter_headers


def redrive_group(target: str) -> str:
    """The consumer group that records how far redrive got."""
    return f"kbridge-redrive-{target}"


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """One record of a dead-letter topic, with its headers decoded."""

    partition: int
    offset: int
    timestamp: float
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", "replace")
        return ""

    @property
    def event_id(self) -> str:
        return self.header("ce_id")

    def summary(self) -> dict[str, str | int]:
        """The columns ``kbridge dlq list`` shows."""
        return {
            "partition": self.partition,
            "offset": self.offset,
            "failed_at": datetime.fromtimestamp(self.timestamp).isoformat(timespec="seconds"),
            "event_id": self.event_id,
            "rule": self.header(RULE),
            "code": self.header(ERROR_CODE),
            "condition": self.header(EXHAUSTED_CONDITION),
            "attempts": self.header(ATTEMPTS),
            "message": self.header(ERROR_MESSAGE),
        }


def parse_since(text: str, *, now: float | None = None) -> float:
    """Epoch seconds from ISO 8601 (``2026-11-26T10:00:00Z``) or an age (``90m``, ``2d``)."""
    try:
        return (time.time() if now is None else now) - parse_duration(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise KbridgeError(
            f"--since {text!r}: use an ISO 8601 time or an age such as 90m, 24h, 7d"
        ) from None


def _record(message: Message) -> DeadLetterRecord:
    headers: list[tuple[str, bytes]] = []
    found = message.headers() or []
    for name, value in found.items() if isinstance(found, dict) else found:
        if isinstance(value, str):
            value = value.encode("utf-8")
        headers.append((str(name), value if value is not None else b""))
    _, ts = message.timestamp()
    return DeadLetterRecord(
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        timestamp=ts / 1000.0,
        key=message.key(),
        value=message.value() or b"",
        headers=headers,
    )


def _read(
    consumer: Consumer, starts: list[TopicPartition], timeout: float
) -> Iterator[DeadLetterRecord]:
    """Records from ``starts`` up to each partition's current end."""
    ends: dict[int, int] = {}
    positions: list[TopicPartition] = []
    for tp in starts:
        if tp.offset == OFFSET_END:  # nothing at or after the requested time
            continue
        low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
        if high > max(low, 0) and (tp.offset < 0 or tp.offset < high):
            ends[tp.partition] = high
            positions.append(tp)
    if not positions:
        return
    consumer.assign(positions)
    remaining = dict(ends)
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        for message in consumer.consume(500, 0.5):
            if message.error() is not None:
                continue
            partition = message.partition() or 0
            offset = message.offset() or 0
            if partition not in remaining or offset >= remaining[partition]:
                continue
            deadline = time.monotonic() + timeout
            yield _record(message)
            if offset + 1 >= remaining[partition]:
                del remaining[partition]


def _partitions(consumer: Consumer, topic: str, timeout: float) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=timeout)
    info = metadata.topics.get(topic)
    if info is None or info.error is not None:
        raise RetriableError(f"dead-letter topic {topic} does not exist (yet)")
    return sorted(info.partitions)


def list_dead_letters(
    kafka: KafkaClientConfig, target: str, *, limit: int | None = None, timeout: float = 10.0
) -> list[DeadLetterRecord]:
    """Every dead letter of ``target`` (oldest first per partition), at most ``limit``."""
    topic = target_dlq_topic(target)
    consumer = make_consumer(kafka, f"kbridge-dlq-list-{target}")
    try:
        starts = [
            TopicPartition(topic, p, OFFSET_BEGINNING)
            for p in _partitions(consumer, topic, timeout)
        ]
        records: list[DeadLetterRecord] = []
        for record in _read(consumer, starts, timeout):
            records.append(record)
            if limit is not None and len(records) >= limit:
                break
        return records
    finally:
        consumer.close()


def redrive(
    kafka: KafkaClientConfig,
    target: str,
    *,
    since: float | None = None,
    timeout: float = 10.0,
    producer: Producer | None = None,
) -> int:
    """Send dead letters back to ``target``'s egress topic; returns how many were sent."""
    topic = target_dlq_topic(target)
    consumer = make_consumer(kafka, redrive_group(target))
    own_producer = producer is None
    producer = producer or Producer(kafka)
    sent = 0
    try:
        partitions = _partitions(consumer, topic, timeout)
        if since is not None:
            wanted = [TopicPartition(topic, p, int(since * 1000)) for p in partitions]
            starts = consumer.offsets_for_times(wanted, timeout=timeout)
        else:
            starts = consumer.committed(
                [TopicPartition(topic, p) for p in partitions], timeout=timeout
            )
            starts = [
                TopicPartition(
                    topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
                )
                for tp in starts
            ]
        batch: list[DeadLetterRecord] = []

        def flush() -> None:
            nonlocal sent
            if not batch:
                return
            outcomes = producer.send_batch(
                [
                    (target_topic(target), r.value, r.key, strip_dead_letter_headers(r.headers))
                    for r in batch
                ],
                timeout=timeout * 6,
            )
            failures = [o for o in outcomes if o is not None]
            if failures:
                raise RetriableError(f"redrive stopped: {failures[0]}")
            last: dict[int, int] = {}
            for r in batch:
                last[r.partition] = max(last.get(r.partition, -1), r.offset)
            consumer.commit(
                offsets=[TopicPartition(topic, p, o + 1) for p, o in last.items()],
                asynchronous=False,
            )
            sent += len(batch)
            batch.clear()

        for record in _read(consumer, starts, timeout):
            batch.append(record)
            if len(batch) >= 500:
                flush()
        flush()
        return sent
    finally:
        consumer.close()
        if own_producer:
            producer.close()
