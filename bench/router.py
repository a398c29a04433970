"""Router throughput: events/s and CPU per event of each engine beside a plain loop.

Each contender runs as its own process against the real broker, on its own bus topic with
the same 1,000 rules (about 10% of events match 1-3 rules, template transforms) and the same
events (about 1 KB CloudEvents). The baseline is a plain confluent-kafka consume → produce
loop doing no matching (orjson parse and dump of every event, same batch sizes), so the
ratios say what routing and each engine's machinery cost. Time and CPU are measured from the
first event produced until the group's committed offsets reach the end.

    python bench/router.py [--events 30000] [--rules 1000]

``--latency RATE`` measures the router hop instead: events are offered at RATE ev/s for
``--seconds`` and each egress record's timestamp is compared with its ingress record's
(``kbridge-ingested-at``; the baseline forwards the ingress timestamp in a header), printing
p50/p99/max per contender.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
from confluent_kafka import Consumer, TopicPartition

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from processor.config import parse_config  # noqa: E402
from processor.config.provision import ensure_config_topics  # noqa: E402
from processor.config.publish import publish_config  # noqa: E402
from processor.kafka import KafkaClientConfig, Producer  # noqa: E402

BOOTSTRAP = os.environ.get("KBRIDGE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092")
PARTITIONS = 4
LOG_DIR = Path(os.environ.get("TMPDIR", "/tmp"))
"""Each contender's output goes to <LOG_DIR>/<baseline|native|faust>.log."""
SERVICES = [f"svc{i}" for i in range(100)]


def make_config(buses: list[str], rules: int) -> str:
    lines = ["buses:"] + [f"  - {{name: {b}, partitions: {PARTITIONS}}}" for b in buses]
    lines += ["targets:"] + [
        f"  - {{name: t{i}-{b}, kind: kafka, topic: sink}}" for b in buses for i in range(3)
    ]
    lines.append("rules:")
    rng = random.Random(7)
    for b in buses:
        for r in range(rules):
            # ~10% of events match: rules watch 10 of 100 services, several rules per service
            service = SERVICES[r % 10]
            level = rng.choice(["error", "critical", "warning"])
            lines.append(
                f"  - name: r{r}-{b}\n    bus: {b}\n"
                f"    pattern: {{source: [{service}], data: {{level: [{level}], code: [{r}]}}}}\n"
                if r >= 30 else
                f"  - name: r{r}-{b}\n    bus: {b}\n"
                f"    pattern: {{source: [{service}], "
                f"data: {{latency_ms: [{{numeric: ['>', {r * 10}]}}]}}}}\n"
            )
            lines.append(
                f"    targets: [{{target: t{r % 3}-{b}, transform: {{input_paths: "
                f"{{svc: '$.source', lat: '$.data.latency_ms'}}, input_template: "
                f"'{{\"service\": <svc>, \"latency\": <lat>, \"rule\": <kbridge.rule-name>}}'}}}}]"
            )
    return "\n".join(lines) + "\n"


def make_events(n: int) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    rng = random.Random(11)
    padding = "x" * 600
    events = []
    for i in range(n):
        service = rng.choice(SERVICES)
        data = {
            "level": rng.choice(["info", "warning", "error", "critical"]),
            "code": rng.randrange(1000),
            "latency_ms": rng.randrange(400),
            "request": {"path": f"/api/v1/items/{i}", "method": "GET", "ua": padding},
            "tags": ["a", "b", service],
        }
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", f"e{i}".encode()),
            ("ce_source", service.encode()),
            ("ce_type", b"request.completed"),
            ("content-type", b"application/json"),
        ]
        events.append((service.encode(), orjson.dumps(data), headers))
    return events


def baseline_worker(topic: str, group: str) -> None:
    """The plain loop: consume, parse, dump, produce, flush, commit; no matching."""
    from confluent_kafka import Producer as RdProducer

    from processor.kafka.consumer import make_consumer
    from processor.kafka.producer import DEFAULTS

    config = KafkaClientConfig(bootstrap_servers=BOOTSTRAP)
    consumer = make_consumer(config, group)
    producer = RdProducer({**DEFAULTS, **config.librdkafka(), "linger.ms": 10})
    consumer.subscribe([topic])
    while True:
        batch = consumer.consume(500, timeout=0.1)
        if not batch:
            continue
        for msg in batch:
            doc = orjson.loads(msg.value() or b"{}")
            headers = [*(msg.headers() or []), ("x-ingress-ts", b"%d" % msg.timestamp()[1])]
            producer.produce(topic + ".out", orjson.dumps(doc), msg.key(), headers=headers)
        producer.flush(30)
        last: dict[tuple[str, int], int] = {}
        for msg in batch:
            last[(msg.topic() or "", msg.partition() or 0)] = msg.offset() or 0
        consumer.commit(
            offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()],
            asynchronous=True,
        )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def committed(group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group})
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], 10)
        return sum(max(tp.offset, 0) for tp in offsets)
    finally:
        consumer.close()


def measure(name: str, cmd: list[str], env: dict[str, str], topic: str, group: str,
            events: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> tuple[float, float]:
    log = open(LOG_DIR / f"{name.split()[-1].strip('()')}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(12)  # start-up and group join are not part of the measurement
        producer = Producer(KafkaClientConfig(bootstrap_servers=BOOTSTRAP))
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        outcomes = producer.send_batch([(topic, v, k, h) for k, v, h in events])
        producer.close()
        assert outcomes.count(None) == len(events)
        while committed(group, topic) < len(events):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}")
            time.sleep(0.2)
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        proc.wait(30)
    return len(events) / elapsed, cpu / len(events) * 1e6


def offer(topic: str, events: list[tuple[bytes, bytes, list[tuple[str, bytes]]]],
          rate: float, seconds: float) -> int:
    """Produce at ``rate`` ev/s (paced, linger 0: the router's hop is what is measured)."""
    producer = Producer(KafkaClientConfig(bootstrap_servers=BOOTSTRAP), **{"linger.ms": 0})
    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        key, value, headers = events[i % len(events)]
        producer.produce(topic, value, key, [*headers, ("x-seq", b"%d" % i)])
    assert producer.flush(30) == 0
    producer.close()
    return total


def hop_latencies(topics: list[str], timeout: float = 10.0) -> list[float]:
    """Egress timestamp minus ingress timestamp (ms) of every record in ``topics``."""
    from datetime import datetime

    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"lat-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(topics)
    hops: list[float] = []
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < timeout:
        batch = consumer.consume(1000, timeout=0.5)
        if batch:
            idle_since = time.monotonic()
        for msg in batch:
            if msg.error():
                continue
            headers = dict(msg.headers() or [])
            if "x-ingress-ts" in headers:
                ingress = int(headers["x-ingress-ts"])
            else:
                stamp = headers["kbridge-ingested-at"].decode().replace("Z", "+00:00")
                ingress = int(datetime.fromisoformat(stamp).timestamp() * 1000)
            hops.append(msg.timestamp()[1] - ingress)
    consumer.close()
    return hops


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_latency(name: str, cmd: list[str], env: dict[str, str], topic: str,
                    egress: list[str], events: list[tuple[bytes, bytes, list[tuple[str, bytes]]]],
                    rate: float, seconds: float) -> list[float]:
    log = open(LOG_DIR / f"{name.split()[-1].strip('()')}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(12)
        offer(topic, events, rate, seconds)
        time.sleep(2)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
    finally:
        proc.terminate()
        proc.wait(30)
    return hop_latencies(egress)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--baseline-worker", nargs=2, metavar=("TOPIC", "GROUP"))
    parser.add_argument("--latency", type=float, metavar="RATE",
                        help="measure the router hop at RATE ev/s instead of throughput")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only", default="baseline,native,faust",
                        help="comma-separated contenders to run (also native-untraced, "
                        "faust-untraced: tracing off)")
    args = parser.parse_args()
    if args.baseline_worker:
        baseline_worker(*args.baseline_worker)
        return

    run = uuid.uuid4().hex[:6]
    keys = ("baseline", "native", "faust", "native-untraced", "faust-untraced")
    buses = [f"bench-{name}-{run}" for name in keys]
    kafka = KafkaClientConfig(bootstrap_servers=BOOTSTRAP)
    rules_topic = f"kbridge.rules.bench-{run}"
    print(f"compiling and applying {args.rules} rules per bus ...", file=sys.stderr)
    config = parse_config(make_config(buses, args.rules), "bench.yaml")
    ensure_config_topics(kafka, config)
    from processor.kafka import TopicSpec, ensure_topics
    ensure_topics(kafka, [TopicSpec("sink", 4), TopicSpec(f"kbridge.bus.{buses[0]}.out", 4)])
    publish_config(kafka, config, prune=False, dry_run=False, topic=rules_topic)
    events = make_events(args.events)
    env = {**os.environ, "KBRIDGE_KAFKA__BOOTSTRAP_SERVERS": BOOTSTRAP,
           "KBRIDGE_RULES_TOPIC": rules_topic, "KBRIDGE_LOG_LEVEL": "WARNING"}
    py = sys.executable
    contenders = [
        ("plain confluent-kafka loop (baseline)", buses[0],
         [py, __file__, "--baseline-worker", f"kbridge.bus.{buses[0]}", f"g-{buses[0]}"],
         f"g-{buses[0]}"),
        ("kbridge router --engine native", buses[1],
         [py, "-m", "processor", "--log-level", "WARNING", "router", "--engine", "native",
          "--group-id", f"g-{buses[1]}"], f"g-{buses[1]}"),
        ("kbridge router --engine faust", buses[2],
         [py, "-m", "processor", "--log-level", "WARNING", "router", "--engine", "faust",
          "--group-id", f"g-{buses[2]}"], f"g-{buses[2]}"),
        # the same engines with tracing off (docs/tracing.md): what trace records cost
        ("native, tracing off", buses[3],
         ["env", "KBRIDGE_TRACE__ENABLED=false", py, "-m", "processor", "--log-level",
          "WARNING", "router", "--engine", "native", "--group-id", f"g-{buses[3]}"],
         f"g-{buses[3]}"),
        ("faust, tracing off", buses[4],
         ["env", "KBRIDGE_TRACE__ENABLED=false", py, "-m", "processor", "--log-level",
          "WARNING", "router", "--engine", "faust", "--group-id", f"g-{buses[4]}"],
         f"g-{buses[4]}"),
    ]
    wanted = set(args.only.split(","))
    contenders = [c for c, key in zip(contenders, keys, strict=True) if key in wanted]
    if args.latency:
        print(f"\nrouter hop (ingress → egress record timestamps) at {args.latency:,.0f} ev/s "
              f"offered for {args.seconds:g} s, {args.rules:,} rules\n")
        print("| contender | records | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|")
        for name, bus, cmd, _group in contenders:
            print(f"measuring {name} ...", file=sys.stderr)
            if bus == buses[0]:
                egress = [f"kbridge.bus.{bus}.out"]
            else:
                egress = [f"kbridge.target.t{i}-{bus}" for i in range(3)]
            hops = measure_latency(name, cmd, env, f"kbridge.bus.{bus}", egress, events,
                                   args.latency, args.seconds)
            print(f"| {name} | {len(hops):,} | {percentile(hops, 0.5):.0f} | "
                  f"{percentile(hops, 0.99):.0f} | {max(hops):.0f} |", flush=True)
        return
    rows = []
    for name, bus, cmd, group in contenders:
        print(f"measuring {name} ...", file=sys.stderr)
        rate, cpu_us = measure(name, cmd, env, f"kbridge.bus.{bus}", group, events)
        rows.append((name, rate, cpu_us))
    base = rows[0][1]
    print(f"\n{args.events:,} events of ~1 KB, {args.rules:,} rules, {PARTITIONS} partitions\n")
    print("| contender | events/s | CPU µs/event | vs baseline |")
    print("|---|---:|---:|---:|")
    for name, rate, cpu_us in rows:
        print(f"| {name} | {rate:,.0f} | {cpu_us:.1f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
