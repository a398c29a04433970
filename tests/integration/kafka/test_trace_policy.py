"""Per-bus tracing from kbridge.yaml on the real broker: the buses' ``trace`` sections are
published to a ``kbridge.rules`` topic, followed by a real :class:`ConfigStore`, picked up
by the process's trace writer, and the trace topic then holds nothing of a switched-off
bus, about a tenth of a bus sampled at 0.1 (each sampled event with all its stages), and
every event of a bus without a section."""

from __future__ import annotations

import time

import orjson
import pytest

from processor.config import parse_config
from processor.config.publish import publish_config
from processor.config.store import ConfigStore
from processor.events import CloudEvent, encode
from processor.kafka.config import KafkaClientConfig
from processor.router.core import route
from processor.router.records import InRecord
from processor.router.table import RoutingTable
from processor.sinks.base import Delivery
from processor.trace import lookup, writer
from processor.trace.partitioning import SAMPLE_SCALE
from processor.trace.settings import TraceSettings
from tests.support.kbridge import read_topic

pytestmark = pytest.mark.kafka

CONFIG = """
buses:
  - {name: quiet, trace: {enabled: false}}
  - {name: tenth, trace: {sample: 0.1}}
  - {name: plain}
targets:
  - {name: hook, kind: webhook, url: "http://127.0.0.1:9/x", allow_private_network: true}
rules:
  - {name: q, bus: quiet, pattern: {source: [test]}, targets: [{target: hook}]}
  - {name: t, bus: tenth, pattern: {source: [test]}, targets: [{target: hook}]}
  - {name: p, bus: plain, pattern: {source: [test]}, targets: [{target: hook}]}
"""
EVENTS = 1000


def test_switched_off_and_sampled_buses(kafka_bootstrap: str, unique: str) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    config = parse_config(CONFIG, "kbridge.yaml")
    rules_topic = f"kbridge.rules.test-{unique}"
    publish_config(kafka, config, topic=rules_topic)
    store = ConfigStore(kafka, topic=rules_topic)
    store.start_and_wait(30)
    settings = TraceSettings(topic=f"kbridge.trace.test-{unique}", partitions=3)
    writer.stop()  # an earlier in-process test may have left the process's writer
    try:
        tracer = writer.start(kafka, by="gateway", settings=settings)
        assert tracer is not None
        deadline = time.monotonic() + 30  # the writer's thread: topic check, then the policy
        while time.monotonic() < deadline and (
            tracer.partitions is None or tracer.policy.threshold("tenth") != SAMPLE_SCALE // 10
        ):
            time.sleep(0.1)
        assert tracer.partitions == 3 and tracer.policy.threshold("quiet") == 0

        table = RoutingTable.from_config(config)
        for bus in ("quiet", "tenth", "plain"):
            published, ingress = [], []
            for i in range(EVENTS):
                event = CloudEvent(id=f"{bus}-{unique}-{i}", source="test", type="T")
                encoded = encode(event, "binary")
                published.append((event.id, encoded.key, encoded.value, encoded.headers))
                ingress.append(
                    InRecord(f"kbridge.bus.{bus}", 0, i, None, encoded.value, encoded.headers, 1)
                )
            writer.published(bus, published, [(0, i) for i in range(EVENTS)], time.time())
            results = [route(table, record) for record in ingress]
            writer.routed_batch(ingress, results)
            for record, result in zip(ingress, results, strict=True):
                for out in result.records:
                    headers = {name: value.decode() for name, value in out.headers}
                    delivery = Delivery(
                        out.value or b"", headers, topic=out.topic, offset=record.offset
                    )
                    writer.delivered(delivery, attempts=1, latency=0.01, started=time.time())
    finally:
        writer.stop()  # flushes what is pending
        store.stop()

    stages: dict[str, dict[str, set[str]]] = {"quiet": {}, "tenth": {}, "plain": {}}
    messages = read_topic(kafka_bootstrap, settings.topic, 1, settle=2.0)
    for msg in messages:
        for line in msg.value().split(b"\n"):
            doc = orjson.loads(line)
            stages[doc["bus"]].setdefault(doc["event_id"], set()).add(doc["stage"])
    assert stages["quiet"] == {}
    assert len(stages["plain"]) == EVENTS
    assert 60 <= len(stages["tenth"]) <= 140  # about a tenth of 1,000 (binomial sd 9.5)
    for bus in ("tenth", "plain"):
        assert all(seen == {"accepted", "routed", "delivered"} for seen in stages[bus].values())
    # the lookup finds a sampled event's whole timeline on its partition
    sampled = next(iter(stages["tenth"]))
    found = lookup.trace_event(kafka, sampled, since=600, settings=settings)
    assert [rec.stage for rec in found] == ["accepted", "routed", "delivered"]
