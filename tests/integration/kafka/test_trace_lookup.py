"""The trace writer and lookup against the real broker: the lookup's partition is the one
the writer produced the event's lines to, and it reads only records newer than ``since``."""

from __future__ import annotations

import time

import orjson
import pytest

from processor.kafka.config import KafkaClientConfig
from processor.kafka.producer import Producer
from processor.trace import lookup, writer
from processor.trace import record as r
from processor.trace.partitioning import partition_for, trace_partition
from processor.trace.settings import TraceSettings
from tests.support.kbridge import read_topic

pytestmark = pytest.mark.kafka


def test_writer_places_records_where_the_lookup_reads(kafka_bootstrap: str, unique: str) -> None:
    config = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    settings = TraceSettings(topic=f"kbridge.trace.test-{unique}", partitions=6)
    producer = Producer(config, **writer.PRODUCER_OVERRIDES)
    partitions = writer._ensure_topic(config, settings, producer.raw)  # start()'s thread
    assert partitions == 6
    tracer = writer.TraceWriter(
        writer._sender(producer.raw, settings.topic), settings, by="test", partitions=6
    )
    ids = [f"evt-{unique}-{i}" for i in range(60)]
    for i, event_id in enumerate(ids):
        tracer.accepted(event_id, "ops", 0, i)
    assert tracer.flush() == 60
    # a record of the first format (one per Kafka record, keyed, murmur2 placement)
    old_id = f"old-{unique}"
    old = r.TraceRecord(old_id, r.ACCEPTED, time.time(), "gateway", bus="ops", offset=99)
    producer.raw.produce(
        settings.topic, old.encode(), old_id.encode(), partition=partition_for(old_id.encode(), 6)
    )
    assert producer.flush(10) == 0
    producer.close(1)

    messages = read_topic(kafka_bootstrap, settings.topic, 7)  # at most 6 batches + 1 old
    assert len(messages) <= 7  # batched: not one Kafka record per trace record
    placed: dict[str, int] = {}
    for msg in messages:
        for line in msg.value().split(b"\n"):
            placed[orjson.loads(line)["event_id"]] = msg.partition()
    assert placed == {
        **{event_id: trace_partition(event_id.encode(), 6) for event_id in ids},
        old_id: partition_for(old_id.encode(), 6),
    }

    found = lookup.trace_event(config, ids[7], since=600, settings=settings)
    assert [(rec.event_id, rec.offset) for rec in found] == [(ids[7], 7)]
    legacy = lookup.trace_event(config, old_id, since=600, settings=settings)
    assert [(rec.event_id, rec.offset) for rec in legacy] == [(old_id, 99)]
    # a window that starts after the records were written reads nothing
    later = lookup.trace_event(config, ids[7], since=1, settings=settings, now=time.time() + 60)
    assert later == []
    recent = lookup.search(config, bus="ops", since=600, limit=5, settings=settings)
    assert len(recent) == 5 and all(rec.bus == "ops" for rec in recent)
