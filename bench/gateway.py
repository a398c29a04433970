"""Gateway throughput, CPU and latency, beside a plain producer measured in the same run.

Starts ``kbridge gateway`` (a fixed bus, real Kafka, ``--workers N``) and drives it with a
lean HTTP/1.1 keep-alive client (raw asyncio streams on uvloop, pre-built requests, so
that the client takes little of the two shared cores) in three scenarios:

* ``putevents``: PutEvents batches of 10 entries (~1 KB Detail each), ``--concurrency``
  clients for ``--seconds``: accepted events/s, p50/p99 request latency, gateway CPU per
  accepted event (user + system time of every gateway process, from /proc);
* ``cloudevents``: single-event CloudEvents binary-mode requests, same measures;
* ``single``: single-entry PutEvents at low load (one client, one request at a time,
  a pause between requests): round-trip p50/p99.

CPU per event is every gateway process's user + system time; ``rdk us/ev`` is the part of
it spent in librdkafka's own threads (``rdk:*``: broker I/O, compression), the rest being
the event loop and the delivery-callback thread.

In the same run a plain confluent-kafka producer (idempotent, acks=all) sends as many
equivalent binary-mode records to the same topic: the ceiling the gateway is compared to.
Usage::

    python bench/gateway.py [--seconds 10] [--concurrency 16] [--workers 1] [--trace]
        [--scenarios putevents,cloudevents,single] [--bootstrap 127.0.0.1:9092]
    python bench/gateway.py --app-only
    python bench/gateway.py --no-kafka [--rounds 3] [--seconds 6]

``--app-only`` measures the gateway app's own event-loop CPU per request in this process
(ASGI calls, a producer that acknowledges at once: no HTTP server, no Kafka), the figure
that stays steady on a shared machine.

``--no-kafka`` serves the app over HTTP in a child process with that instant-ack producer,
once with kbridge's protocol (:mod:`processor.gateway.protocol`, as ``kbridge gateway``)
and once with uvicorn's own httptools protocol, alternating ``--rounds`` times, and reports
the server's CPU per request: the HTTP server and the app without librdkafka and without
the broker competing for the cores (uvicorn's protocol is the same-run baseline).

Event tracing (``KBRIDGE_TRACE__*``, one ``kbridge.trace`` record per accepted event) is
switched off for the gateway under test unless ``--trace`` is given.
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
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvloop
from confluent_kafka import Producer

from processor.events import CloudEvent, encode
from processor.kafka.admin import TopicSpec, admin_client, delete_topics, ensure_topics
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


def start_gateway(
    bus: str, port: int, bootstrap: str, workers: int, trace: bool
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KBRIDGE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "KBRIDGE_LOG_LEVEL": "WARNING",
        # Event tracing (kbridge.trace, one more record per event) is measured on request.
        "KBRIDGE_TRACE__ENABLED": "true" if trace else "false",
    }
    command = [sys.executable, "-m", "processor", "--log-level", "WARNING", "gateway"]
    command += ["--buses", bus, "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                time.sleep(1 if workers > 1 else 0)  # let every worker finish starting
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("gateway did not become ready")


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (uvicorn's worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) the processes have used so far, from /proc."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def librdkafka_seconds(pids: list[int]) -> float:
    """CPU time of the processes' librdkafka threads (named ``rdk:*``), from /proc."""
    total = 0.0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as handle:
                    raw = handle.read()
            except OSError:
                continue
            if raw[raw.index("(") + 1 :].startswith("rdk:"):
                fields = raw.rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@dataclass
class Run:
    """What one scenario measured."""

    accepted: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


def putevents_requests(path: str, entries: int, variants: int = 64) -> list[bytes]:
    requests = []
    for k in range(variants):
        items = [
            {"Source": "bench.gateway", "DetailType": "Alarm", "Detail": detail(k * entries + i)}
            for i in range(entries)
        ]
        body = orjson.dumps({"Entries": items})
        head = (
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


def cloudevents_requests(path: str, variants: int = 64) -> list[bytes]:
    requests = []
    for k in range(variants):
        body = detail(k).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"ce-specversion: 1.0\r\nce-id: bench-{k}-{uuid.uuid4()}\r\n"
            f"ce-source: bench.gateway\r\nce-type: Alarm\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


async def drive(
    port: int,
    requests: list[bytes],
    events_per_request: int,
    seconds: float,
    concurrency: int,
    pause: float = 0.0,
) -> Run:
    """``concurrency`` keep-alive connections sending ``requests`` in turn until time is up."""
    run = Run()
    deadline = time.monotonic() + seconds

    async def connection(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        k = offset
        while time.monotonic() < deadline:
            started = time.perf_counter()
            writer.write(requests[k % len(requests)])
            k += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            run.latencies.append(time.perf_counter() - started)
            status = int(head[9:12])
            run.statuses[status] = run.statuses.get(status, 0) + 1
            if status == 200:
                failed = orjson.loads(body)["FailedEntryCount"]
                run.failed += failed
                run.accepted += events_per_request - failed
            elif status == 202:
                run.accepted += events_per_request
            else:
                run.failed += events_per_request
            if pause:
                await asyncio.sleep(pause)
        writer.close()

    await asyncio.gather(*(connection(i * 7) for i in range(concurrency)))
    return run


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


class _Acked:
    """A delivery report: partition 0, offset 0."""

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 0


class InstantProducer:
    """Acknowledges every record at once: the app's own CPU without Kafka's."""

    async def send(self, *args: object, **kwargs: object) -> tuple[int, int]:
        raise AssertionError("the gateway queues with produce()")

    def produce(
        self, topic: str, value: object, key: object, headers: object, on_delivery: Any, **_: Any
    ) -> None:
        on_delivery(None, _Acked())


async def app_cpu(raw_requests: list[bytes], count: int) -> float:
    """Event-loop CPU seconds per request of the gateway app itself (best of 5 rounds):
    ASGI calls straight into ``create_app(...)`` with :class:`InstantProducer`, no HTTP
    server and no Kafka. Steadier than the whole-process figure on a shared machine, which
    also depends on how well librdkafka batches at the rate reached."""
    from processor.gateway.app import create_app
    from processor.settings import Settings

    app = create_app(Settings(), known_buses=["bench"], producer=InstantProducer())
    parsed = []
    for raw in raw_requests:
        head, body = raw.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        path = lines[0].split()[1].decode()
        pairs = [line.split(b":", 1) for line in lines[1:]]
        parsed.append((path, [(k.strip().lower(), v.strip()) for k, v in pairs], body))

    async def one(path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 5555),
            "server": ("127.0.0.1", 8080),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        statuses = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        assert statuses[0] in (200, 202), statuses

    for k in range(200):  # warm-up
        await one(*parsed[k % len(parsed)])
    best = float("inf")
    for _ in range(5):
        started = time.thread_time()
        for k in range(count):
            await one(*parsed[k % len(parsed)])
        best = min(best, (time.thread_time() - started) / count)
    return best


def app_only() -> None:
    """``--app-only``: the app's CPU per request for each request shape, no Kafka needed."""
    shapes = {
        f"PutEvents batch of {BATCH}": (putevents_requests("/v1/buses/bench/events", BATCH), 500),
        "PutEvents 1 entry": (putevents_requests("/v1/buses/bench/events", 1), 2000),
        "CloudEvents binary, 1 event": (cloudevents_requests("/v1/buses/bench/cloudevents"), 2000),
    }
    print(f"gateway app alone (no HTTP server, no Kafka); load average {os.getloadavg()[0]:.1f}")
    for label, (requests, count) in shapes.items():
        seconds = uvloop.run(app_cpu(requests, count))
        print(f"{label:44}{seconds * 1e6:>9.1f} us CPU per request")


PROTOCOLS = ("uvicorn", "kbridge")


def serve_instant(port: int, protocol: str) -> None:
    """The child process of ``--no-kafka``: the app with :class:`InstantProducer` over HTTP."""
    import uvicorn

    from processor.gateway.app import create_app
    from processor.gateway.protocol import GatewayProtocol
    from processor.settings import Settings

    app = create_app(Settings(), known_buses=["bench"], producer=InstantProducer())
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http=GatewayProtocol if protocol == "kbridge" else "httptools",
    )


def no_kafka(seconds: float, concurrency: int, rounds: int) -> None:
    """``--no-kafka``: server CPU per request, kbridge's protocol against uvicorn's."""
    shapes = {
        f"PutEvents batch of {BATCH}": (putevents_requests("/v1/buses/bench/events", BATCH), BATCH),
        "CloudEvents binary, 1 event": (cloudevents_requests("/v1/buses/bench/cloudevents"), 1),
    }
    cpu: dict[tuple[str, str], list[float]] = {}
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for protocol in PROTOCOLS:
            port = free_port()
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve-instant", str(port), "--protocol", protocol]
            )
            try:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise SystemExit("the instant-ack server did not start") from None
                        time.sleep(0.1)
                for label, (requests, per_request) in shapes.items():
                    uvloop.run(drive(port, requests, per_request, 1.0, concurrency))  # warm-up
                    before = cpu_seconds([server.pid])
                    run = uvloop.run(drive(port, requests, per_request, seconds, concurrency))
                    used = cpu_seconds([server.pid]) - before
                    assert run.failed == 0 and run.statuses, run.statuses
                    answered = sum(run.statuses.values())
                    cpu.setdefault((label, protocol), []).append(used / answered)
                    rates.setdefault((label, protocol), []).append(answered / seconds)
            finally:
                server.terminate()
                server.wait(30)
    print(
        f"gateway over HTTP without Kafka (instant-ack producer), {concurrency} clients, "
        f"{rounds} alternating rounds; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'request shape':32}{'protocol':>10}{'requests/s':>12}"
        f"{'CPU us/request (median; range)':>34}"
    )
    for label in shapes:
        for protocol in PROTOCOLS:
            values = sorted(v * 1e6 for v in cpu[(label, protocol)])
            rate = statistics.median(rates[(label, protocol)])
            spread = f"{statistics.median(values):.0f} ({values[0]:.0f}-{values[-1]:.0f})"
            print(f"{label:32}{protocol:>10}{rate:>12,.0f}{spread:>34}")


MANY_PARTITIONS = 1_000
"""Above this many partitions on the broker the bench says its figures run high."""


def broker_partitions(kafka: KafkaClientConfig) -> int:
    """Partitions the broker holds: its own load, which the gateway's CPU figures feel."""
    metadata = admin_client(kafka).list_topics(timeout=10)
    return sum(len(topic.partitions) for topic in metadata.topics.values())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--scenarios", default="putevents,cloudevents,single")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument(
        "--trace", action="store_true", help="keep event tracing on (the default of kbridge)"
    )
    parser.add_argument(
        "--app-only",
        action="store_true",
        help="measure the app's own CPU per request in this process (no server, no Kafka)",
    )
    parser.add_argument(
        "--no-kafka",
        action="store_true",
        help="serve over HTTP with an instant-ack producer: kbridge's protocol vs uvicorn's",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternations for --no-kafka")
    parser.add_argument("--serve-instant", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--protocol", choices=PROTOCOLS, default="kbridge", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_instant:
        serve_instant(args.serve_instant, args.protocol)
        return
    if args.app_only:
        app_only()
        return
    if args.no_kafka:
        no_kafka(args.seconds, args.concurrency, args.rounds)
        return
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    kafka = KafkaClientConfig(bootstrap_servers=args.bootstrap)
    bus = f"bench-{uuid.uuid4().hex[:8]}"
    topic = bus_topic(bus)
    ensure_topics(kafka, [TopicSpec(topic, partitions=4)])
    port = free_port()
    gateway = start_gateway(bus, port, args.bootstrap, args.workers, args.trace)
    results: dict[str, tuple[Run, float, float, float]] = {}
    try:
        pids = process_tree(gateway.pid)
        plans = {
            "putevents": (
                putevents_requests(f"/v1/buses/{bus}/events", BATCH),
                BATCH,
                args.concurrency,
                0.0,
                args.seconds,
            ),
            "cloudevents": (
                cloudevents_requests(f"/v1/buses/{bus}/cloudevents"),
                1,
                args.concurrency,
                0.0,
                args.seconds,
            ),
            "single": (
                putevents_requests(f"/v1/buses/{bus}/events", 1),
                1,
                1,
                0.01,
                min(args.seconds, 5.0),
            ),
        }
        for name in scenarios:
            requests, per_request, concurrency, pause, seconds = plans[name]
            uvloop.run(drive(port, requests, per_request, 1.5, concurrency, pause))  # warm-up
            cpu_before, rdk_before = cpu_seconds(pids), librdkafka_seconds(pids)
            run = uvloop.run(drive(port, requests, per_request, seconds, concurrency, pause))
            rdk = librdkafka_seconds(pids) - rdk_before
            results[name] = (run, cpu_seconds(pids) - cpu_before, rdk, seconds)
    finally:
        gateway.terminate()
        gateway.wait(30)
    total = sum(run.accepted for run, _, _, _ in results.values())
    baseline_rate, baseline_cpu = plain_producer(topic, args.bootstrap, max(total, 20_000))
    delete_topics(kafka, [topic])
    partitions = broker_partitions(kafka)
    print(
        f"kbridge gateway, {args.workers} worker(s), tracing {'on' if args.trace else 'off'}; "
        "~1 KB events, 4 partitions, acks=all; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"the broker holds {partitions:,} partitions"
    )
    if partitions > MANY_PARTITIONS:
        print(
            "  (a broker carrying thousands of partitions, such as every test's topics, runs "
            "these figures 10-30% higher: compare against a fresh one, `deploy/kafka/kafka.sh "
            "stop && rm -rf deploy/kafka/.run && deploy/kafka/kafka.sh start`)"
        )
    print(
        f"{'scenario':44}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/ev':>11}"
        f"{'rdk us/ev':>11}{'failed':>8}"
    )
    labels = {
        "putevents": f"PutEvents batches of {BATCH}, {args.concurrency} clients",
        "cloudevents": f"CloudEvents binary, 1 event, {args.concurrency} clients",
        "single": "PutEvents 1 entry, 1 client, low load",
    }
    for name, (run, cpu, rdk, seconds) in results.items():
        print(
            f"{labels[name]:44}{run.accepted / seconds:>10,.0f}"
            f"{percentile(run.latencies, 50) * 1000:>9.1f}"
            f"{percentile(run.latencies, 99) * 1000:>9.1f}"
            f"{cpu / max(run.accepted, 1) * 1e6:>11.0f}"
            f"{rdk / max(run.accepted, 1) * 1e6:>11.0f}{run.failed:>8}"
        )
        if set(run.statuses) - {200, 202}:
            print(f"  statuses: {run.statuses}")
    print(
        f"{'plain confluent-kafka producer':44}{baseline_rate:>10,.0f}{'-':>9}{'-':>9}"
        f"{baseline_cpu * 1e6:>11.0f}"
    )


if __name__ == "__main__":
    main()
