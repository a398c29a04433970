"""Every dead-letter topic carries exactly the documented kbridge headers (real Kafka).

One pipeline run as users run it (``kbridge apply``, ``kbridge router``, ``kbridge sink``,
``kbridge source``) produces all four kinds of dead letter: the router's decode and
transform failures and a Kafka source's unconvertible input on ``kbridge.bus.<bus>.dlq``,
and a sink's rejected delivery on ``kbridge.dlq.<target>``. The expected sets are the table
in docs/connectors.md ("Egress record format"), written out here so that a change to the
format has to change this test, the docs and :mod:`processor.kafka.headers` together.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from processor.events import CloudEvent, encode
from processor.kafka import KafkaClientConfig, Producer
from processor.kafka import headers as h
from processor.kafka.admin import TopicSpec, delete_topics, ensure_topics
from tests.support.kbridge import Kbridge, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

COMMON = {"kbridge-error-code", "kbridge-error-message", "kbridge-failed-stage", "kbridge-bus"}
ROUTER_DECODE = COMMON | {"kbridge-original-offset"}
ROUTER_TRANSFORM = ROUTER_DECODE | {"kbridge-rule", "kbridge-target"}
KAFKA_SOURCE = COMMON | {"kbridge-source", "kbridge-original-offset"}
SINK = COMMON | {
    "kbridge-original-offset",
    "kbridge-rule",
    "kbridge-target",
    "kbridge-failed-at",
    "kbridge-attempts",
    "kbridge-exhausted-condition",
}


class Rejecting(BaseHTTPRequestHandler):
    """A destination that refuses every delivery with 400 (non-retriable: one attempt)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(400)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"no thanks")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def rejecting_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Rejecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def config_text(u: str, url: str, bootstrap: str) -> str:
    return f"""
buses: [{{name: b-{u}, partitions: 1}}]
targets:
  - {{name: hook-{u}, kind: webhook, url: "{url}", allow_private_network: true}}
rules:
  - name: all-{u}
    bus: b-{u}
    pattern: {{type: [alarm]}}
    targets:
      - target: hook-{u}
        transform: {{path: "$.data.host"}}
sources:
  - name: up-{u}
    kind: kafka
    bus: b-{u}
    cluster: {{bootstrap_servers: "{bootstrap}"}}
    topics: [upstream-{u}]
    allow_private_network: true
"""


def kbridge_headers(message: Any) -> dict[str, bytes]:
    return {k: v for k, v in message.headers() or [] if k.startswith("kbridge-")}


def test_every_dead_letter_topic_carries_the_documented_headers(
    kbridge: Kbridge, rejecting_url: str
) -> None:
    u, bootstrap = kbridge.unique, kbridge.bootstrap
    bus, upstream = f"kbridge.bus.b-{u}", f"upstream-{u}"
    kbridge.apply(config_text(u, rejecting_url, bootstrap))
    kafka = KafkaClientConfig(bootstrap_servers=bootstrap)
    ensure_topics(kafka, [TopicSpec(upstream, partitions=1)])
    producer = Producer(kafka)
    kbridge.start("router", "--engine", "native", "--group-id", f"router-{u}", name="router")
    kbridge.start("sink", f"hook-{u}", name="sink")
    kbridge.start("source", f"up-{u}", name="source")

    good = encode(CloudEvent(id="ok-1", source="s", type="alarm", data={"host": "db-1"}))
    no_host = encode(CloudEvent(id="bad-1", source="s", type="alarm", data={"other": 1}))
    producer.send_and_wait(bus, b"not an event", b"poison")  # router: decode
    producer.send_and_wait(bus, no_host.value, no_host.key, no_host.headers)  # router: transform
    producer.send_and_wait(bus, good.value, good.key, good.headers)  # sink: HTTP 400
    producer.send_and_wait(  # source: a CloudEvent without an id
        upstream, b"{}", b"k", [("ce_specversion", b"1.0"), ("ce_source", b"x"), ("ce_type", b"t")]
    )
    producer.close()
    try:
        check_dead_letters(kbridge, bus, upstream)
    finally:
        delete_topics(kafka, [upstream])


def check_dead_letters(kbridge: Kbridge, bus: str, upstream: str) -> None:
    u, bootstrap = kbridge.unique, kbridge.bootstrap
    bus_letters = read_topic(bootstrap, f"{bus}.dlq", 3, timeout=90)
    assert len(bus_letters) == 3, kbridge.logs()
    by_stage: dict[str, dict[str, bytes]] = {}
    for letter in bus_letters:
        marks = kbridge_headers(letter)
        writer = "source" if "kbridge-source" in marks else marks["kbridge-failed-stage"].decode()
        by_stage[writer] = marks
    assert set(by_stage["decode"]) == ROUTER_DECODE
    assert set(by_stage["transform"]) == ROUTER_TRANSFORM
    assert set(by_stage["source"]) == KAFKA_SOURCE
    assert by_stage["transform"]["kbridge-error-code"] == b"transform-failed"
    assert by_stage["transform"]["kbridge-rule"] == f"all-{u}".encode()
    assert by_stage["transform"]["kbridge-target"] == f"hook-{u}".encode()
    assert by_stage["decode"]["kbridge-original-offset"].startswith(f"{bus}[0]@".encode())
    assert by_stage["source"]["kbridge-original-offset"] == f"{upstream}[0]@0".encode()
    assert by_stage["source"]["kbridge-source"] == f"up-{u}".encode()
    for marks in by_stage.values():
        assert marks["kbridge-bus"] == f"b-{u}".encode()
        assert marks["kbridge-failed-stage"] in (b"decode", b"transform")

    sink_letters = read_topic(bootstrap, f"kbridge.dlq.hook-{u}", 1, timeout=90)
    ids = [dict(m.headers())["ce_id"] for m in sink_letters]
    assert b"ok-1" in ids, kbridge.logs()
    letter = sink_letters[ids.index(b"ok-1")]
    marks = kbridge_headers(letter)
    assert set(marks) == SINK | {"kbridge-ingested-at"}  # that one is kept from the routed record
    assert marks["kbridge-failed-stage"] == b"deliver"
    assert marks["kbridge-error-code"] == b"http-400"
    assert marks["kbridge-exhausted-condition"] == b"non-retriable"
    assert marks["kbridge-original-offset"].startswith(f"kbridge.target.hook-{u}[".encode())
    assert letter.value() == b'"db-1"'


def test_documented_sets_are_the_module_constants() -> None:
    """The sets above (docs/connectors.md) are what :mod:`processor.kafka.headers` declares."""
    assert {
        "router-decode": ROUTER_DECODE,
        "router-transform": ROUTER_TRANSFORM,
        "router-produce": ROUTER_TRANSFORM,  # an egress topic that refuses the record
        "source": COMMON | {"kbridge-source"},
        "kafka-source": KAFKA_SOURCE,
    } == h.BUS_DEAD_LETTER
    assert h.TARGET_DEAD_LETTER == SINK
