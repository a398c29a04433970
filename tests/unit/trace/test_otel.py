"""OpenTelemetry: spans for ingest, route and deliver, children of the producer's W3C
``traceparent``; OTLP export only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

Spans are checked with the SDK's in-memory exporter; the OTLP path with an in-process HTTP
receiver on loopback. The traceparent format and the parent/child relation follow W3C
Trace Context (https://www.w3.org/TR/trace-context/#traceparent-header: version-traceid-
parentid-flags); the CloudEvents extension that carries it is
https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/extensions/distributed-tracing.md
"""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from processor.config import parse_config
from processor.errors import FatalError
from processor.events import CloudEvent, encode
from processor.router.core import route
from processor.router.records import InRecord
from processor.router.table import RoutingTable
from processor.sinks.base import Delivery, DeliveryOutcome, Sink
from processor.sinks.batch import run_batch
from processor.sinks.deadletter import DeadLetter
from processor.sinks.drain import trace_dead_letters
from processor.sinks.http.binding import encode as http_encode
from processor.sinks.retry import RetryLimits
from processor.trace import otel, writer

# W3C Trace Context's own example value (https://www.w3.org/TR/trace-context/#examples-of-http-traceparent-headers)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.use_provider(provider)
    try:
        yield exporter
    finally:
        otel.use_provider(None)


def assert_child_of_producer(span: Any) -> None:
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT_ID


def test_off_and_free_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    # no trace writer either (an in-process gateway or sink of an earlier test may have
    # started the process's writer; this test is about what an idle process pays)
    monkeypatch.setattr(writer, "_active", None)
    assert otel.setup("test") is False
    assert not otel.enabled() and not writer.hooks_on()
    assert otel.record_span("x", traceparent=TRACEPARENT, start=0.0) is None


CONFIG = """
buses: [{name: ops}]
targets:
  - {name: pager, kind: webhook, url: "http://127.0.0.1:9/x", allow_private_network: true}
rules:
  - {name: alarms, bus: ops, pattern: {type: [alarm]}, targets: [{target: pager}]}
"""


def traced_event() -> CloudEvent:
    return CloudEvent(
        id="e-1",
        source="acme",
        type="alarm",
        datacontenttype="application/json",
        data={"x": 1},
        extensions={"traceparent": TRACEPARENT},
    )


def test_route_span_is_a_child_of_the_producers_traceparent(
    spans: InMemorySpanExporter,
) -> None:
    table = RoutingTable.from_config(parse_config(CONFIG, "test.yaml"))
    encoded = encode(traced_event(), "binary")
    record = InRecord("kbridge.bus.ops", 0, 5, None, encoded.value, encoded.headers, 1_000)
    result = route(table, record)
    # the egress record carries the same traceparent on to the sink (an extension like any)
    assert (otel.CE_TRACEPARENT, TRACEPARENT.encode()) in result.records[0].headers
    writer.routed_batch([record], [result])
    [span] = spans.get_finished_spans()
    assert span.name == "kbridge route" and span.kind is SpanKind.CONSUMER
    assert_child_of_producer(span)
    assert span.attributes is not None and span.attributes["kbridge.targets"] == "pager"
    assert span.start_time == 1_000 * 1_000_000  # from the ingress record's timestamp


def delivery(**extra: str) -> Delivery:
    headers = {"ce_id": "e-1", "ce_traceparent": TRACEPARENT, "kbridge-rule": "alarms", **extra}
    return Delivery(b"{}", headers, topic="kbridge.target.pager", partition=0, offset=1)


class Accepting(Sink):
    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[DeliveryOutcome]:
        return [None] * len(batch)


def test_deliver_span_and_a_dead_letters_error(spans: InMemorySpanExporter) -> None:
    async def no_wait(_seconds: float) -> None:
        return None

    result = asyncio.run(
        run_batch(Accepting(), [delivery()], limits_for=lambda _d: RetryLimits(), wait=no_wait)
    )
    assert result.delivered == 1
    trace_dead_letters([DeadLetter(delivery(), FatalError("no such channel"), "non-retriable", 1)])
    done, failed = spans.get_finished_spans()
    assert done.name == failed.name == "kbridge deliver"
    assert_child_of_producer(done)
    assert done.attributes is not None and done.attributes["kbridge.target"] == "pager"
    assert failed.status.status_code is StatusCode.ERROR
    assert "no such channel" in (failed.status.description or "")


@pytest.mark.parametrize("mode", ["binary", "structured", "raw"])
def test_http_targets_get_the_traceparent_header(mode: str) -> None:
    headers, _body = http_encode(delivery(), mode)  # type: ignore[arg-type]
    assert headers["traceparent"] == TRACEPARENT
    untraced = Delivery(b"{}", {"ce_id": "e"}, topic="kbridge.target.pager")
    assert "traceparent" not in http_encode(untraced, mode)[0]  # type: ignore[arg-type]


def test_ingest_span_from_the_publish_hook(spans: InMemorySpanExporter) -> None:
    encoded = encode(traced_event(), "binary")
    records = [("e-1", None, encoded.value, encoded.headers), ("e-2", None, b"", [])]
    writer.published("ops", records, [(2, 17), RuntimeError("not written")], 100.0)
    [span] = spans.get_finished_spans()  # the refused record has no span
    assert span.name == "kbridge ingest" and span.kind is SpanKind.PRODUCER
    assert_child_of_producer(span)
    assert span.attributes is not None
    assert span.attributes["messaging.destination.name"] == "kbridge.bus.ops"
    assert span.attributes["messaging.kafka.offset"] == 17


class OtlpReceiver(http.server.BaseHTTPRequestHandler):
    posts: ClassVar[list[tuple[str, str, int]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        OtlpReceiver.posts.append((self.path, self.headers.get("content-type", ""), len(body)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_otlp_export_when_the_endpoint_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OtlpReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    OtlpReceiver.posts = []
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    try:
        assert otel.setup("test") is True
        child = otel.record_span("kbridge ingest", traceparent=TRACEPARENT, start=1.0)
        assert child is not None and child.startswith(f"00-{TRACE_ID}-")
        otel._provider.force_flush()
    finally:
        otel.use_provider(None)
        server.shutdown()
    assert OtlpReceiver.posts and OtlpReceiver.posts[0][0] == "/v1/traces"
    assert OtlpReceiver.posts[0][1] == "application/x-protobuf" and OtlpReceiver.posts[0][2] > 0
