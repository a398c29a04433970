"""Reading trace records back: one event's timeline, or a search of recent events.

A lookup by id must stay cheap on a busy bus, so it never scans the topic: a hash of the
event id decides the partition (:mod:`.partitioning`), and the lookup reads that one
partition from the offset of ``since`` ago (``offsets_for_times``) to its end, keeping the
lines that carry the id (a Kafka record holds the trace records of many events of that
partition, one per line: :mod:`.writer`). The cost is one partition's share of the window
(1/partitions of the trace traffic since then), not the topic's history. Records of the
first format (one per Kafka record, keyed by event id, murmur2 placement) are found on
their own partition when the first read finds nothing.

A search by bus/source/type cannot use the key: it reads every partition, but only from
``since`` ago (default 10 minutes) and stops at ``limit`` matches.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from processor.errors import RetriableError
from processor.kafka.config import KafkaClientConfig
from processor.trace import record as r
from processor.trace.partitioning import partition_for, trace_partition
from processor.trace.settings import TraceSettings, load_trace_settings

DEFAULT_SINCE = 24 * 3600.0
"""How far back ``kbridge trace <id>`` looks by default (seconds)."""
DEFAULT_SEARCH_SINCE = 600.0
"""How far back ``kbridge trace --bus ...`` searches by default (seconds)."""

_ORDER = {stage: i for i, stage in enumerate(r.STAGES)}
_LATER = len(r.STAGES)


def _consumer(kafka: KafkaClientConfig) -> Consumer:
    return Consumer(
        kafka.librdkafka(
            **{
                "group.id": f"kbridge-trace-lookup-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "auto.offset.reset": "latest",
            }
        )
    )


def _partitions(consumer: Consumer, topic: str, timeout: float) -> int:
    meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        return 0
    return len(meta.partitions)


def _read(
    consumer: Consumer,
    topic: str,
    partitions: list[int],
    since_ms: int,
    timeout: float,
) -> Iterator[tuple[bytes | None, bytes | None]]:
    """``(key, value)`` of every record in ``partitions`` from ``since_ms`` to their ends."""
    wanted = [TopicPartition(topic, p, since_ms) for p in partitions]
    starts = consumer.offsets_for_times(wanted, timeout=timeout)
    ends: dict[int, int] = {}
    assign: list[TopicPartition] = []
    for tp in starts:
        _low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, tp.partition), timeout=timeout
        )
        if tp.offset < 0 or tp.offset >= high:  # nothing written since then
            continue
        ends[tp.partition] = high
        assign.append(TopicPartition(topic, tp.partition, tp.offset))
    if not assign:
        return
    consumer.assign(assign)
    deadline = time.monotonic() + timeout
    while ends:
        if time.monotonic() > deadline:
            raise RetriableError(
                f"reading {topic} took longer than {timeout:g} s; try a shorter --since",
                code="trace-timeout",
            )
        for msg in consumer.consume(500, 0.5):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    raise RetriableError(f"reading {topic}: {err.str()}", code="trace-read")
                continue
            partition, offset = msg.partition() or 0, msg.offset() or 0
            end = ends.get(partition)
            if end is None:
                continue
            yield msg.key(), msg.value()
            if offset + 1 >= end:
                del ends[partition]


def _with_consumer(
    kafka: KafkaClientConfig, use: Callable[[Consumer], list[r.TraceRecord]]
) -> list[r.TraceRecord]:
    """Run ``use`` with a fresh consumer; Kafka failures become a retriable kbridge error
    (the CLI prints one line, the HTTP endpoint answers 503)."""
    consumer = _consumer(kafka)
    try:
        return use(consumer)
    except KafkaException as exc:
        raise RetriableError(
            f"could not read the trace topic from {kafka.bootstrap_servers}: {exc}",
            code="trace-unavailable",
        ) from None
    finally:
        consumer.close()


def timeline(records: list[r.TraceRecord]) -> list[r.TraceRecord]:
    """Records in the order they happened: by phase (:data:`processor.trace.record.PHASES`:
    accepted, then the router's stage, then the sinks'), then time, then stage order."""
    return sorted(
        records,
        key=lambda rec: (
            r.PHASES.get(rec.stage, _LATER),
            rec.at,
            _ORDER.get(rec.stage, _LATER),
        ),
    )


def trace_event(
    kafka: KafkaClientConfig,
    event_id: str,
    *,
    since: float = DEFAULT_SINCE,
    settings: TraceSettings | None = None,
    now: float | None = None,
    timeout: float = 15.0,
) -> list[r.TraceRecord]:
    """Every trace record of ``event_id`` written in the last ``since`` seconds, in order."""
    settings = settings or load_trace_settings()
    key = event_id.encode("utf-8")
    since_ms = int(((now if now is not None else time.time()) - since) * 1000)

    def use(consumer: Consumer) -> list[r.TraceRecord]:
        count = _partitions(consumer, settings.topic, timeout)
        if not count:
            return []
        found: list[r.TraceRecord] = []
        partition = trace_partition(key, count)
        for _key, value in _read(consumer, settings.topic, [partition], since_ms, timeout):
            found.extend(r.decode_all(value, event_id))
        legacy = partition_for(key, count)  # format 1 (before batching): keyed, murmur2
        if not found and legacy != partition:
            for _key, value in _read(consumer, settings.topic, [legacy], since_ms, timeout):
                found.extend(r.decode_all(value, event_id))
        return timeline(found)

    return _with_consumer(kafka, use)


def search(
    kafka: KafkaClientConfig,
    *,
    bus: str | None = None,
    source: str | None = None,
    type_: str | None = None,
    since: float = DEFAULT_SEARCH_SINCE,
    limit: int = 50,
    settings: TraceSettings | None = None,
    now: float | None = None,
    timeout: float = 30.0,
) -> list[r.TraceRecord]:
    """``accepted`` records of recent events matching bus/source/type, newest last."""
    settings = settings or load_trace_settings()
    since_ms = int(((now if now is not None else time.time()) - since) * 1000)
    needles = [f'"stage":"{r.ACCEPTED}"'.encode()]
    if bus is not None:
        needles.append(f'"bus":"{bus}"'.encode())

    def use(consumer: Consumer) -> list[r.TraceRecord]:
        count = _partitions(consumer, settings.topic, timeout)
        found: list[r.TraceRecord] = []
        for _key, value in _read(consumer, settings.topic, list(range(count)), since_ms, timeout):
            if not value or not all(n in value for n in needles):  # cheap pre-filter
                continue
            for line in value.split(b"\n"):
                if not all(n in line for n in needles):
                    continue
                rec = r.decode(line)
                if rec is None or rec.stage != r.ACCEPTED:
                    continue
                if bus is not None and rec.bus != bus:
                    continue
                if source is not None and rec.source != source:
                    continue
                if type_ is not None and rec.type != type_:
                    continue
                found.append(rec)
        return timeline(found)[-limit:]

    return _with_consumer(kafka, use)
