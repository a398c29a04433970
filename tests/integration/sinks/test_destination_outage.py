"""A webhook receiver that goes away and comes back (issue 21 item 5), through real Kafka.

While nothing listens on the receiver's port every attempt fails with ``connection``: the
worker treats that as one condition (held batches, capped 2 s probe backoff, one log line
each way) and delivers the backlog within seconds of the receiver's return, even with the
production per-record backoff that would otherwise push retries minutes out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
from prometheus_client import CollectorRegistry
from sink_support import (
    FAST,
    Receiver,
    StaticConfig,
    committed,
    end_offsets,
    make_topics,
    produce,
    running,
    until,
)

from processor.config.targets import WebhookTarget
from processor.kafka import KafkaClientConfig
from processor.kafka.topics import target_topic
from processor.sinks.metrics import SinkMetrics
from processor.sinks.retry import Backoff
from processor.sinks.worker import SinkWorker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

OUTAGE_SECONDS = 8.0


def _restart_on(port: int) -> Receiver:
    """A new receiver on the same port (the old one was shut down)."""
    fresh = Receiver()
    handler = fresh.server.RequestHandlerClass
    fresh.server.server_close()
    fresh.server = type(fresh.server)(("127.0.0.1", port), handler)
    fresh.server.daemon_threads = True
    fresh.thread = threading.Thread(target=fresh.server.serve_forever, daemon=True)
    return fresh.__enter__()


async def test_receiver_gone_and_back_resumes_within_seconds(
    kafka_bootstrap: str, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    name = f"gone-{unique}"
    make_topics(kafka, name)
    gone = {"now": False}

    def dropping(r: Receiver, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict, bytes]:
        if gone["now"]:  # kept-alive connections die too, like a killed process's
            h.connection.shutdown(socket.SHUT_RDWR)
            return 503, {}, b""
        return 200, {}, b""

    first = Receiver(dropping).__enter__()
    port = first.server.server_address[1]
    target = WebhookTarget(name=name, url=first.url + "/in", allow_private_network=True)
    config = StaticConfig(targets={name: target})
    config.add_rule("r1", name)
    registry = CollectorRegistry()
    settings = dataclasses.replace(FAST, backoff=Backoff())  # production per-record backoff
    worker = SinkWorker(
        name,
        kafka=kafka,
        snapshot=lambda: config,
        settings=settings,
        metrics=SinkMetrics(registry),
    )
    up = lambda: registry.get_sample_value("kbridge_sink_destination_up", {"target": name})  # noqa: E731
    caplog.set_level(logging.INFO, logger="processor.sinks")
    second: Receiver | None = None
    try:
        async with running(worker):
            produce(kafka, target_topic(name), 100)
            await until(lambda: len(first.accepted) >= 100, what="before the outage")
            gone["now"] = True
            first.__exit__()  # nothing listens on the port any more
            produce(kafka, target_topic(name), 200, start=100)
            await until(lambda: up() == 0, timeout=20, what="destination marked down")
            await asyncio.sleep(OUTAGE_SECONDS)
            second = await asyncio.to_thread(_restart_on, port)
            back = time.monotonic()
            await until(lambda: len(second.accepted) >= 200, timeout=30, what="the backlog")
            drained = time.monotonic() - back
            assert up() == 1
            ends = end_offsets(kafka, target_topic(name))
            await until(lambda: committed(kafka, name) == ends, what="commits")
    finally:
        if second is not None:
            second.__exit__()
    assert drained < 5.0, f"backlog delivered {drained:.1f}s after the receiver returned"
    assert {f"evt-{i}" for i in range(100, 300)} <= set(second.accepted) | set(first.accepted)
    assert len(second.accepted) >= 200 - len(set(first.accepted) - {f"evt-{i}" for i in range(100)})
    assert worker.dead_lettered == 0
    down = [r for r in caplog.records if "is unreachable" in r.getMessage()]
    again = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(down) == 1 and len(again) == 1
    # the sink's own lines (other loggers, e.g. librdkafka's or a previous test's
    # in-process services, are not what this bounds)
    sink_lines = [
        r
        for r in caplog.records
        if r.levelno >= logging.INFO and r.name.startswith("processor.sinks")
    ]
    assert len(sink_lines) < 30, [r.getMessage() for r in sink_lines[:40]]
