"""The trace writer and lookup against the real broker: the lookup's partition is the one
librdkafka put the record on, and it reads only records newer than ``since``."""

from __future__ import annotations

import time

import pytest

from processor.kafka.config import KafkaClientConfig
from processor.trace import lookup, writer
from processor.trace.partitioning import partition_for
from processor.trace.settings import TraceSettings
from tests.support.kbridge import read_topic

pytestmark = pytest.mark.kafka


def test_writer_places_records_where_the_lookup_reads(kafka_bootstrap: str, unique: str) -> None:
    config = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    settings = TraceSettings(topic=f"kbridge.trace.test-{unique}", partitions=6)
    writer._ensure_topic(config, settings)  # what start() does in the background
    from processor.kafka.producer import Producer

    producer = Producer(config, **writer.PRODUCER_OVERRIDES)
    tracer = writer.TraceWriter(
        lambda key, value: producer.produce(settings.topic, value, key, block=False),
        settings,
        by="test",
    )
    ids = [f"evt-{unique}-{i}" for i in range(60)]
    for i, event_id in enumerate(ids):
        tracer.accepted(event_id, "ops", 0, i)
    assert producer.flush(10) == 0
    producer.close(1)

    placed = {
        msg.key().decode(): msg.partition()  # type: ignore[union-attr]
        for msg in read_topic(kafka_bootstrap, settings.topic, len(ids))
    }
    assert placed == {event_id: partition_for(event_id.encode(), 6) for event_id in ids}

    found = lookup.trace_event(config, ids[7], since=600, settings=settings)
    assert [(rec.event_id, rec.offset) for rec in found] == [(ids[7], 7)]
    # a window that starts after the records were written reads nothing
    later = lookup.trace_event(config, ids[7], since=1, settings=settings, now=time.time() + 60)
    assert later == []
    recent = lookup.search(config, bus="ops", since=600, limit=5, settings=settings)
    assert len(recent) == 5 and all(rec.bus == "ops" for rec in recent)
