"""Sink throughput: the MySQL dump beside plain PyMySQL, and webhook deliveries per second.

MySQL: the same topic is drained twice per round into fresh tables, once by a plain loop
(confluent-kafka consumer, rows built straight from headers, PyMySQL ``executemany`` of
``INSERT ... ON DUPLICATE KEY UPDATE`` per 500 rows, commit, offsets committed) and once by
kbridge's sink worker with the ``mysql`` sink. Both clocks start at the first record
received (so consumer-group joins do not count) and stop when the last row is committed.
Rounds alternate to share the machine's noise; the best round of each is reported. The
issue's target: kbridge at least 80 % of the baseline. The worker runs twice per round,
with trace records on (the default: one ``delivered`` record per event) and off, so the
difference is what tracing costs (issue 18: at most 10 %).

Webhook: ``WebhookSink`` delivering batches to a minimal asyncio HTTP server in another process that
answers every request after 1 ms, at concurrency 1, 8 and 32; then the whole sink worker
(a topic of ``--events`` records consumed, decoded, POSTed, committed, traced) with this
process's CPU time per delivery. Each on the HTTP/1.1 client the webhook sink uses
(processor/sinks/http/wire.py) and on the httpx path it used before (issue 14), alternating.

    python bench/sinks.py [--events 20000] [--rounds 2] [--requests 2000]

Needs Kafka on 127.0.0.1:9092 and MariaDB on 127.0.0.1:3306 (KBRIDGE_TEST_KAFKA,
KBRIDGE_TEST_MYSQL_URL override them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pymysql
import sqlalchemy as sa
from confluent_kafka import Consumer

from processor.config.targets import MysqlTarget, WebhookTarget
from processor.kafka import KafkaClientConfig, Producer, TopicSpec, ensure_topics, make_consumer
from processor.kafka.topics import target_dlq_topic, target_topic
from processor.sinks.base import Delivery, DeliveryOutcome, Sink, SinkContext, build_sink
from processor.sinks.retry import Backoff
from processor.sinks.webhook import WebhookSink
from processor.sinks.worker import SinkWorker, WorkerSettings
from processor.trace import writer as trace_writer

KAFKA = os.environ.get("KBRIDGE_TEST_KAFKA", "127.0.0.1:9092")
MYSQL_URL = os.environ.get(
    "KBRIDGE_TEST_MYSQL_URL", "mysql+pymysql://kbridge:kbridge@127.0.0.1:3306/kbridge_test"
)
BATCH = 500


class OneTarget:
    """The configuration view a benchmarked sink worker needs: its one target, nothing else."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def target(self, name: str) -> Any:
        return self._target

    def connection(self, name: str) -> Any:
        return None

    def rule(self, name: str) -> Any:
        return None


def _value(i: int) -> bytes:
    return orjson.dumps(
        {"keyId": f"key-{i}", "op": "rotate", "region": "eu-1", "actor": "svc", "pad": "x" * 700}
    )


def produce_events(kafka: KafkaClientConfig, topic: str, n: int) -> None:
    producer = Producer(kafka)
    records = []
    for i in range(n):
        headers = {
            "ce_specversion": "1.0",
            "ce_id": f"evt-{i}",
            "ce_source": "kms.audit",
            "ce_type": "kms.key.rotated",
            "ce_subject": f"key-{i % 100}",
            "ce_time": "2026-11-26T12:00:00Z",
            "content-type": "application/json",
            "kbridge-rule": "dump",
        }
        records.append(
            (topic, _value(i), f"k{i}".encode(), [(k, v.encode()) for k, v in headers.items()])
        )
    outcomes = producer.send_batch(records)
    producer.close()
    assert all(o is None for o in outcomes)


def create_baseline_table(url: sa.engine.URL, table: str) -> None:
    from processor.sinks.mysql import define_table

    engine = sa.create_engine(url)
    define_table(sa.MetaData(), table, [], json_as_text=False).metadata.create_all(engine)
    engine.dispose()


def baseline(kafka: KafkaClientConfig, topic: str, n: int, table: str) -> float:
    """Plain loop: consume, build rows, executemany upsert, commit DB and offsets."""
    url = sa.make_url(MYSQL_URL)
    create_baseline_table(url, table)
    conn = pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username,
        password=url.password,
        database=url.database,
        charset="utf8mb4",
    )
    sql = (
        f"INSERT INTO `{table}` (id, source, type, subject, time, data, rule, ingested_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE source=VALUES(source), "
        "type=VALUES(type), subject=VALUES(subject), time=VALUES(time), data=VALUES(data), "
        "rule=VALUES(rule), ingested_at=VALUES(ingested_at)"
    )
    consumer: Consumer = make_consumer(kafka, f"bench-base-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([topic])
    done = 0
    started = 0.0
    try:
        while done < n:
            messages = consumer.consume(BATCH, 1.0)
            if not messages:
                continue
            if not started:
                started = time.perf_counter()
            rows = []
            now = datetime.now(UTC).replace(tzinfo=None)
            for m in messages:
                h = {k: v.decode() for k, v in m.headers() or []}
                rows.append(
                    (
                        h["ce_id"],
                        h["ce_source"],
                        h["ce_type"],
                        h.get("ce_subject"),
                        datetime.fromisoformat(h["ce_time"].replace("Z", "+00:00")).replace(
                            tzinfo=None
                        ),
                        m.value().decode(),
                        h.get("kbridge-rule"),
                        now,
                    )
                )
            with conn.cursor() as cursor:
                cursor.executemany(sql, rows)
            conn.commit()
            consumer.commit(message=messages[-1], asynchronous=False)
            done += len(messages)
        return n / (time.perf_counter() - started)
    finally:
        consumer.close()
        conn.close()


class _Timed(Sink):
    """Wraps the real sink to start the clock at the first delivery."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner
        self.max_batch_size = inner.max_batch_size
        self.started = 0.0

    async def setup(self) -> None:
        await self.inner.setup()

    async def close(self) -> None:
        await self.inner.close()

    async def deliver(self, batch: Any) -> list[DeliveryOutcome]:
        if not self.started:
            self.started = time.perf_counter()
        return list(await self.inner.deliver(batch))


def set_tracing(on: bool) -> None:
    """Trace records on (the default) or off for the next worker (docs/tracing.md)."""
    trace_writer.stop()  # the worker starts the process's writer afresh from the environment
    os.environ["KBRIDGE_TRACE__ENABLED"] = "true" if on else "false"


async def kbridge_run(kafka: KafkaClientConfig, topic_target: str, n: int, table: str) -> float:
    target = MysqlTarget(
        name=topic_target, url=MYSQL_URL, table=table, batch_size=BATCH, allow_private_network=True
    )
    timed: list[_Timed] = []

    def builder(t: Any, c: SinkContext) -> Sink:
        timed.append(_Timed(build_sink("mysql", t, c)))
        return timed[-1]

    view = OneTarget(target)
    settings = WorkerSettings(poll_timeout=0.1, linger=0.0, backoff=Backoff(0.1, 1.0))
    worker = SinkWorker(
        topic_target, kafka=kafka, snapshot=lambda: view, settings=settings, builder=builder
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    while worker.delivered < n:
        await asyncio.sleep(0.002)
    rate = n / (time.perf_counter() - timed[0].started)
    stop.set()
    await task
    return rate


def drop(table: str) -> None:
    engine = sa.create_engine(MYSQL_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS `{table}`"))
    engine.dispose()


def bench_mysql(events: int, rounds: int) -> list[tuple[str, float]]:
    kafka = KafkaClientConfig(bootstrap_servers=KAFKA)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka, [TopicSpec(target_topic(name), 1), TopicSpec(target_dlq_topic(name), 1)])
    produce_events(kafka, target_topic(name), events)
    base_rates: list[float] = []
    kb_rates: dict[bool, list[float]] = {True: [], False: []}
    for r in range(rounds):
        table = f"bench_base_{r}_{uuid.uuid4().hex[:6]}"
        base_rates.append(baseline(kafka, target_topic(name), events, table))
        drop(table)
        for traced in (True, False) if r % 2 == 0 else (False, True):  # alternate the order
            table = f"bench_kb_{r}_{uuid.uuid4().hex[:6]}"
            # a fresh group per round: the worker uses kbridge-sink-<target>, so a new name
            round_name = f"{name}-{r}-{'t' if traced else 'u'}"
            ensure_topics(kafka, [TopicSpec(target_topic(round_name), 1)])
            produce_events(kafka, target_topic(round_name), events)
            set_tracing(traced)
            kb_rates[traced].append(asyncio.run(kbridge_run(kafka, round_name, events, table)))
            drop(table)
    set_tracing(True)
    return [
        ("plain PyMySQL executemany (baseline)", max(base_rates)),
        ("kbridge mysql sink worker (tracing on, the default)", max(kb_rates[True])),
        ("kbridge mysql sink worker, tracing off", max(kb_rates[False])),
    ]


SERVER = textwrap.dedent(
    """
    # A minimal HTTP/1.1 keep-alive responder: reads each request (headers plus
    # Content-Length bytes), waits 1 ms, answers 200. Lighter than a framework so that
    # the numbers measure the client side, not the test server.
    import asyncio, sys, uvloop

    RESPONSE = b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n"

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\\r\\n\\r\\n")
                length = 0
                for line in head.split(b"\\r\\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                await asyncio.sleep(0.001)
                writer.write(RESPONSE)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
        async with server:
            await server.serve_forever()

    uvloop.run(main())
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _use_httpx(sink: WebhookSink) -> WebhookSink:
    """The same sink on its previous HTTP path (httpx clients over the guarded transport,
    still used for OAuth token fetches): the comparison row of issue 14."""
    sink._wire = None
    return sink


async def _webhook_rate(url: str, concurrency: int, requests: int, client: str) -> float:
    sink = WebhookSink(url, concurrency=concurrency, allow_private_network=True)
    if client == "httpx":
        _use_httpx(sink)
    await sink.setup()
    items = [
        Delivery(
            value=_value(i),
            headers={
                "ce_id": f"e{i}",
                "ce_source": "s",
                "ce_type": "t",
                "content-type": "application/json",
            },
            offset=i,
        )
        for i in range(requests)
    ]
    await sink.deliver(items[:50])  # warm the connection pool
    started = time.perf_counter()
    for start in range(0, requests, BATCH):
        outcomes = await sink.deliver(items[start : start + BATCH])
        assert all(o is None for o in outcomes), outcomes[:3]
    rate = requests / (time.perf_counter() - started)
    await sink.close()
    return rate


async def _webhook_worker(
    kafka: KafkaClientConfig, url: str, n: int, client: str
) -> tuple[float, float]:
    """The whole worker (Kafka consume, record decode, POST, commit, trace record):
    deliveries per second and this process's CPU seconds per delivery."""
    name = f"bench-hook-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka, [TopicSpec(target_topic(name), 1), TopicSpec(target_dlq_topic(name), 1)])
    produce_events(kafka, target_topic(name), n)
    target = WebhookTarget(name=name, url=url, allow_private_network=True)

    def builder(t: Any, c: SinkContext) -> Sink:
        sink = build_sink("webhook", t, c)
        assert isinstance(sink, WebhookSink)
        return _use_httpx(sink) if client == "httpx" else sink

    view = OneTarget(target)
    worker = SinkWorker(name, kafka=kafka, snapshot=lambda: view, builder=builder)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    while worker.delivered < 1:  # the group is joined and the pool warm
        await asyncio.sleep(0.002)
    first = worker.delivered
    cpu, started = time.process_time(), time.perf_counter()
    while worker.delivered < n:
        await asyncio.sleep(0.002)
    cpu, elapsed = time.process_time() - cpu, time.perf_counter() - started
    stop.set()
    await task
    return (n - first) / elapsed, cpu / (n - first)


def bench_webhook(requests: int, events: int, rounds: int) -> list[tuple[str, float, str]]:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    kafka = KafkaClientConfig(bootstrap_servers=KAFKA)
    rows: dict[str, list[tuple[float, str]]] = {}
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/hook"
        for r in range(rounds):
            for client in ("httpx", "wire") if r % 2 == 0 else ("wire", "httpx"):
                label = "kbridge HTTP/1.1 client" if client == "wire" else "httpx (before)"
                for c in (1, 8, 32):
                    rate = asyncio.run(_webhook_rate(url, c, requests, client))
                    rows.setdefault(f"webhook, {label}, concurrency {c}", []).append((rate, ""))
                rate, cpu = asyncio.run(_webhook_worker(kafka, url, events, client))
                rows.setdefault(
                    f"webhook sink worker (Kafka -> POST -> commit), {label}", []
                ).append((rate, f"{cpu * 1e6:,.0f} µs CPU per delivery"))
        return [(label, *max(found)) for label, found in rows.items()]
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--only", choices=["mysql", "webhook"], default=None)
    args = parser.parse_args()
    mysql = bench_mysql(args.events, args.rounds) if args.only != "webhook" else []
    webhook = bench_webhook(args.requests, args.events, args.rounds) if args.only != "mysql" else []
    print(
        f"\n{args.events} events of ~1 KB, 1 partition, batches of {BATCH}; best of {args.rounds}\n"
    )
    print("| measurement | per second | vs baseline / note |")
    print("|---|---:|---:|")
    base = mysql[0][1] if mysql else 1.0
    for label, rate in mysql:
        print(f"| {label} (rows) | {rate:,.0f} | {rate / base:.0%} |")
    for label, rate, note in webhook:
        print(f"| {label} (deliveries) | {rate:,.0f} | {note} |")


if __name__ == "__main__":
    main()
