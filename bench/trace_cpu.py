"""What trace records cost per event: CPU of all threads (the stage hook in Python, the
writer's flush thread, the trace producer's librdkafka threads), against the real broker.

End-to-end runs on a shared 2-core machine move by +-30% between contenders (see
docs/tracing.md), more than tracing costs; this isolates it. 20,000 ~1 KB events (10% match
a rule), for each stage hook three repetitions:

* ``routed``: the router's hook, batches of 500 like the native engine;
* ``accepted``: the gateway's hook, requests of 10 events;
* ``delivered``: the sink's hook, one call per delivered event;

then ``route()`` alone on the same events for scale. Prints one line per figure and a
JSON summary (``--json``).

    python bench/trace_cpu.py [--events 20000]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from processor.config import parse_config
from processor.events import CloudEvent, encode
from processor.kafka.config import KafkaClientConfig
from processor.router.core import route
from processor.router.records import InRecord
from processor.router.table import RoutingTable
from processor.sinks.base import Delivery
from processor.trace import writer
from processor.trace.settings import TraceSettings

CONFIG = """
buses: [{name: ops}]
targets:
  - {name: pager, kind: webhook, url: "http://127.0.0.1:9/x", allow_private_network: true}
rules:
  - {name: alarms, bus: ops, pattern: {type: [alarm]}, targets: [{target: pager}]}
"""
BATCH = 500
REQUEST = 10


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process
    return usage.ru_utime + usage.ru_stime


def measure(events: int, run: Callable[[], None], tracer: writer.TraceWriter) -> float:
    """µs of CPU per event for ``run`` plus writing everything it queued to Kafka."""
    before = cpu()
    run()
    tracer.flush()
    assert writer._producer is not None
    writer._producer.raw.flush(30)
    return (cpu() - before) / events * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    args = parser.parse_args()
    events = args.events
    table = RoutingTable.from_config(parse_config(CONFIG, "bench.yaml"))
    routed, published, deliveries = [], [], []
    for i in range(events):
        event = CloudEvent(
            id=str(uuid.uuid4()),
            source="acme",
            type="alarm" if i % 10 == 0 else "other",
            subject="s",
            datacontenttype="application/json",
            data={"x": i, "pad": "x" * 700},
        )
        encoded = encode(event, "binary")
        record = InRecord("kbridge.bus.ops", 0, i, None, encoded.value, encoded.headers, 1000)
        routed.append((record, route(table, record)))
        published.append((event.id, encoded.key, encoded.value, encoded.headers))
        headers = {"ce_id": event.id, "kbridge-bus": "ops", "kbridge-rule": "alarms"}
        deliveries.append(
            Delivery(encoded.value, headers, topic="kbridge.target.pager", partition=0, offset=i)
        )
    topic = f"kbridge.trace.bench-{uuid.uuid4().hex[:6]}"
    tracer = writer.start(KafkaClientConfig(), by="bench", settings=TraceSettings(topic=topic))
    assert tracer is not None
    deadline = time.monotonic() + 30
    while tracer.partitions is None and time.monotonic() < deadline:  # the topic check
        time.sleep(0.1)

    def router_hook() -> None:
        for start in range(0, events, BATCH):
            part = routed[start : start + BATCH]
            writer.routed_batch([r for r, _ in part], [s for _, s in part])

    def gateway_hook() -> None:
        for start in range(0, events, REQUEST):
            part = published[start : start + REQUEST]
            writer.published("ops", part, [(0, start + i) for i in range(len(part))], 0.0)

    def sink_hook() -> None:
        for delivery in deliveries:
            writer.delivered(delivery, attempts=1, latency=0.01, started=0.0)

    def route_alone() -> None:
        for record, _ in routed:
            route(table, record)

    results: dict[str, list[float]] = {}
    for name, hook in (
        ("routed", router_hook),
        ("accepted", gateway_hook),
        ("delivered", sink_hook),
        ("route() alone", route_alone),
    ):
        results[name] = [measure(events, hook, tracer) for _ in range(3)]
        runs = ", ".join(f"{x:.2f}" for x in results[name])
        print(f"{name}: {min(results[name]):.2f} µs CPU per event (runs: {runs})")
    print(f"written {tracer.written}, dropped {tracer.dropped}")
    writer.stop()
    if args.json:
        summary = {k: {"best": min(v), "median": statistics.median(v)} for k, v in results.items()}
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
