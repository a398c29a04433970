"""Gateway throughput: accepted events/s for PutEvents batches of 10, beside a plain producer.

Starts one ``kbridge gateway`` process (a fixed bus, real Kafka), drives it with concurrent
HTTP clients posting PutEvents batches of 10 entries (~1 KB Detail each) for ``--seconds``,
and reports accepted events/s and p50/p99 request latency. In the same run, a plain
confluent-kafka producer (idempotent, acks=all) sends the same number of equivalent
CloudEvents (binary mode, same size) to the same topic: the ceiling the gateway is measured
against. Usage::

    python bench/gateway.py [--seconds 15] [--concurrency 32] [--bootstrap 127.0.0.1:9092]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid

import httpx
import orjson
from confluent_kafka import Producer

from processor.events import CloudEvent, encode
from processor.kafka.admin import TopicSpec, delete_topics, ensure_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.topics import bus_topic

BATCH = 10


def detail(n: int) -> str:
    return orjson.dumps({"n": n, "severity": "critical", "padding": "x" * 960}).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_gateway(bus: str, port: int, bootstrap: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KBRIDGE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "KBRIDGE_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "processor",
            "--log-level",
            "WARNING",
            "gateway",
            "--buses",
            bus,
            "--port",
            str(port),
        ],
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("gateway did not become ready")


async def drive(url: str, seconds: float, concurrency: int) -> tuple[int, int, list[float]]:
    accepted = failed = 0
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(w: int) -> None:
            nonlocal accepted, failed
            n = 0
            while time.monotonic() < deadline:
                entries = [
                    {"Source": "bench.gateway", "DetailType": "Alarm", "Detail": detail(n + i)}
                    for i in range(BATCH)
                ]
                n += BATCH
                started = time.perf_counter()
                response = await client.post(
                    url,
                    content=orjson.dumps({"Entries": entries}),
                    headers={"content-type": "application/json"},
                )
                latencies.append(time.perf_counter() - started)
                body = response.json()
                failed += body["FailedEntryCount"]
                accepted += BATCH - body["FailedEntryCount"]

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return accepted, failed, latencies


def plain_producer(topic: str, bootstrap: str, count: int) -> tuple[float, float]:
    """Events/s and CPU seconds per event of a plain idempotent acks=all producer sending
    ``count`` equivalent (pre-encoded) events."""
    producer = Producer(
        KafkaClientConfig(bootstrap_servers=bootstrap).librdkafka(
            **{"enable.idempotence": True, "acks": "all", "linger.ms": 5, "compression.type": "lz4"}
        )
    )
    records = []
    for n in range(count):
        event = CloudEvent(
            id=str(uuid.uuid4()),
            source="bench.gateway",
            type="Alarm",
            datacontenttype="application/json",
            data=orjson.loads(detail(n)),
        )
        records.append(encode(event))
    acked = 0

    def on_delivery(err: object, msg: object) -> None:
        nonlocal acked
        if err is None:
            acked += 1

    started = time.perf_counter()
    cpu_started = time.process_time()
    for record in records:
        while True:
            try:
                producer.produce(
                    topic, record.value, record.key, headers=record.headers, on_delivery=on_delivery
                )
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    assert acked == count, f"only {acked} of {count} acknowledged"
    return count / elapsed, cpu / count


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_mean_seconds(metrics_url: str) -> float:
    """Mean request time the gateway itself measured for PutEvents (its histogram)."""
    total = count = 0.0
    for line in httpx.get(metrics_url).text.splitlines():
        if 'endpoint="/v1/buses/{bus}/events"' not in line:
            continue
        if line.startswith("kbridge_gateway_request_seconds_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("kbridge_gateway_request_seconds_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total / count if count else float("nan")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = parser.parse_args()
    kafka = KafkaClientConfig(bootstrap_servers=args.bootstrap)
    bus = f"bench-{uuid.uuid4().hex[:8]}"
    topic = bus_topic(bus)
    ensure_topics(kafka, [TopicSpec(topic, partitions=4)])
    port = free_port()
    gateway = start_gateway(bus, port, args.bootstrap)
    try:
        url = f"http://127.0.0.1:{port}/v1/buses/{bus}/events"
        asyncio.run(drive(url, 2, args.concurrency))  # warm-up
        cpu_before = cpu_seconds(gateway.pid)
        accepted, failed, latencies = asyncio.run(drive(url, args.seconds, args.concurrency))
        gateway_cpu = cpu_seconds(gateway.pid) - cpu_before
        server_mean = server_mean_seconds(f"http://127.0.0.1:{port}/metrics")
    finally:
        gateway.terminate()
        gateway.wait(30)
    gateway_rate = accepted / args.seconds
    baseline_rate, baseline_cpu = plain_producer(topic, args.bootstrap, max(accepted, 10_000))
    delete_topics(kafka, [topic])
    print(
        f"gateway PutEvents, batches of {BATCH}, {args.concurrency} concurrent clients, "
        f"{args.seconds:.0f} s, ~1 KB events, 4 partitions, acks=all"
    )
    print(f"{'':32}{'events/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    print(
        f"{'gateway (one process)':32}{gateway_rate:>12,.0f}"
        f"{percentile(latencies, 50) * 1000:>10.1f}{percentile(latencies, 99) * 1000:>10.1f}"
    )
    print(f"{'plain confluent-kafka producer':32}{baseline_rate:>12,.0f}{'-':>10}{'-':>10}")
    print(
        f"gateway / producer: {gateway_rate / baseline_rate:.1%}; failed entries: {failed}; "
        f"requests: {len(latencies)}"
    )
    print(
        f"mean time inside the gateway per request: {server_mean * 1000:.1f} ms; "
        f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"gateway CPU per accepted event: {gateway_cpu / max(accepted, 1) * 1e6:.0f} us "
        f"(so about {accepted / gateway_cpu if gateway_cpu else 0:,.0f} events/s per busy core); "
        f"plain producer CPU per event: {baseline_cpu * 1e6:.0f} us"
    )


if __name__ == "__main__":
    main()
