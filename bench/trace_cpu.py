"""What the router's trace records cost per event: CPU of all threads (the hook in Python,
the trace producer's librdkafka threads, delivery reports), against the real broker.

End-to-end router runs on a shared 2-core machine move by +-30% between contenders (see
docs/tracing.md), more than tracing costs; this isolates it. 20,000 ~1 KB events (10% match
a rule), batches of 500 like the native engine, three repetitions, then ``route()`` alone
on the same events for scale.

    python bench/trace_cpu.py
"""

from __future__ import annotations

import resource
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from processor.config import parse_config
from processor.events import CloudEvent, encode
from processor.kafka.config import KafkaClientConfig
from processor.router.core import route
from processor.router.records import InRecord
from processor.router.table import RoutingTable
from processor.trace import writer
from processor.trace.settings import TraceSettings

CONFIG = """
buses: [{name: ops}]
targets:
  - {name: pager, kind: webhook, url: "http://127.0.0.1:9/x", allow_private_network: true}
rules:
  - {name: alarms, bus: ops, pattern: {type: [alarm]}, targets: [{target: pager}]}
"""
EVENTS = 20_000
BATCH = 500


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    table = RoutingTable.from_config(parse_config(CONFIG, "bench.yaml"))
    routed = []
    for i in range(EVENTS):
        event = CloudEvent(
            id=f"e-{i}-{uuid.uuid4().hex[:6]}",
            source="acme",
            type="alarm" if i % 10 == 0 else "other",
            subject="s",
            datacontenttype="application/json",
            data={"x": i, "pad": "x" * 700},
        )
        encoded = encode(event, "binary")
        record = InRecord("kbridge.bus.ops", 0, i, None, encoded.value, encoded.headers, 1000)
        routed.append((record, route(table, record)))
    topic = f"kbridge.trace.bench-{uuid.uuid4().hex[:6]}"
    tracer = writer.start(KafkaClientConfig(), by="router", settings=TraceSettings(topic=topic))
    assert tracer is not None
    time.sleep(3)  # the writer's topic check
    for _ in range(3):
        before = cpu()
        for start in range(0, EVENTS, BATCH):
            part = routed[start : start + BATCH]
            writer.routed_batch([r for r, _ in part], [s for _, s in part])
        writer._producer.flush(30)
        print(f"trace records: {(cpu() - before) / EVENTS * 1e6:.1f} µs CPU per event")
    before = cpu()
    for record, _ in routed:
        route(table, record)
    print(f"route() alone, same events: {(cpu() - before) / EVENTS * 1e6:.1f} µs CPU per event")
    print(f"written {tracer.written}, dropped {tracer.dropped}")
    writer.stop()


if __name__ == "__main__":
    main()
