"""Helpers for sink integration tests: config views, producing, reading back, HTTP receivers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from processor.config.rules import RetryPolicy, Rule, RuleTarget
from processor.kafka import KafkaClientConfig, Producer, TopicSpec, ensure_topics, make_consumer
from processor.kafka.topics import target_dlq_topic, target_topic
from processor.sinks.retry import Backoff
from processor.sinks.worker import SinkWorker, WorkerSettings, group_id

FAST = WorkerSettings(
    poll_timeout=0.1, linger=0.0, pause_after=0.5, backoff=Backoff(base=0.05, cap=0.5)
)


@dataclass
class StaticConfig:
    """A config snapshot the test can change while the worker runs (live changes)."""

    targets: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, Rule] = field(default_factory=dict)
    connections: dict[str, Any] = field(default_factory=dict)

    def target(self, name: str) -> Any:
        return self.targets.get(name)

    def connection(self, name: str) -> Any:
        return self.connections.get(name)

    def rule(self, name: str) -> Any:
        return self.rules.get(name)

    def add_rule(self, name: str, target: str, **retry: Any) -> None:
        self.rules[name] = Rule(
            name=name,
            bus="b",
            pattern={"source": ["x"]},
            targets=[RuleTarget(target=target, retry=RetryPolicy(**retry))],
        )


def make_topics(kafka: KafkaClientConfig, target: str, partitions: int = 3) -> None:
    ensure_topics(
        kafka,
        [TopicSpec(target_topic(target), partitions), TopicSpec(target_dlq_topic(target), 1)],
    )


def event_headers(i: int, rule: str = "r1", **extra: str) -> list[tuple[str, bytes]]:
    headers = {
        "ce_specversion": "1.0",
        "ce_id": f"evt-{i}",
        "ce_source": "test.source",
        "ce_type": "test.created",
        "ce_time": "2026-11-26T12:00:00Z",
        "content-type": "application/json",
        "kbridge-rule": rule,
        **extra,
    }
    return [(k, v.encode()) for k, v in headers.items()]


def produce(
    kafka: KafkaClientConfig,
    topic: str,
    n: int,
    *,
    start: int = 0,
    rule: str = "r1",
    value: Callable[[int], bytes] | None = None,
    producer: Producer | None = None,
) -> None:
    """Produce ``n`` test events and wait for Kafka's acks.

    Pass ``producer`` to reuse one across many small calls: a fresh idempotent producer's
    first send waits 0.1-0.5 s for its producer id and metadata.
    """
    own = producer is None
    producer = producer or Producer(kafka)
    records = [
        (
            topic,
            value(i) if value else orjson.dumps({"i": i, "text": "x" * 200}),
            f"k{i}".encode(),
            event_headers(i, rule),
        )
        for i in range(start, start + n)
    ]
    try:
        outcomes = producer.send_batch(records)
        assert all(o is None for o in outcomes), outcomes
    finally:
        if own:
            producer.close()


def read_all(
    kafka: KafkaClientConfig, topic: str, expected: int, timeout: float = 30.0
) -> list[Any]:
    """Read ``expected`` records (and then whatever else arrives within a second)."""
    consumer: Consumer = make_consumer(kafka, f"reader-{time.time_ns()}")
    consumer.subscribe([topic])
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(got) < expected:
            got.extend(m for m in consumer.consume(500, 0.5) if m.error() is None)
        got.extend(m for m in consumer.consume(500, 1.0) if m.error() is None)
    finally:
        consumer.close()
    return got


def committed(kafka: KafkaClientConfig, target: str, partitions: int = 3) -> dict[int, int]:
    consumer: Consumer = make_consumer(kafka, group_id(target))
    try:
        tps = consumer.committed(
            [TopicPartition(target_topic(target), p) for p in range(partitions)], timeout=10
        )
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in tps}


def end_offsets(kafka: KafkaClientConfig, topic: str, partitions: int = 3) -> dict[int, int]:
    consumer: Consumer = make_consumer(kafka, "offsets-probe")
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


@contextlib.asynccontextmanager
async def running(worker: SinkWorker) -> AsyncIterator[asyncio.Event]:
    """Run ``worker`` in the background; stop it (abandoning in-flight work) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def until(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.05)


# ---- a real HTTP receiver on loopback -------------------------------------------------------

Behaviour = Callable[["Receiver", BaseHTTPRequestHandler, bytes], tuple[int, dict[str, str], bytes]]


class _QuietServer(ThreadingHTTPServer):
    """Connections the client drops at shutdown are expected, not worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


class Receiver:
    """A threaded HTTP/1.1 server on 127.0.0.1 recording what it accepted (by ce-id)."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour
        self.lock = threading.Lock()
        self.accepted: dict[str, bytes] = {}
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver.lock:
                    receiver.requests.append((self.path, dict(self.headers.items()), body))
                if receiver.behaviour is not None:
                    status, headers, payload = receiver.behaviour(receiver, self, body)
                else:
                    status, headers, payload = 200, {}, b""
                if 200 <= status < 300 and self.path != "/token":
                    with receiver.lock:
                        receiver.accepted[
                            self.headers.get("ce-id") or self.headers.get("X-Kbridge-Event-Id", "")
                        ] = body
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_GET = _handle

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def receiver(behaviour: Behaviour | None = None) -> Iterator[Receiver]:
    with Receiver(behaviour) as r:
        yield r


def json_body(data: Any) -> bytes:
    return json.dumps(data).encode()
