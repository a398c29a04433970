"""OpenTelemetry spans for ingest, route and deliver, linked by the W3C ``traceparent``.

A producer that sends a ``traceparent`` (the CloudEvents distributed-tracing extension:
``ce-traceparent`` over HTTP, the ``traceparent`` attribute in JSON, ``ce_traceparent`` on
Kafka) gets kbridge's spans in its own trace: ``kbridge ingest`` (gateway/sources),
``kbridge route`` (router) and ``kbridge deliver`` (sinks), each a child of the
``traceparent`` the record carries. The attribute travels with the event through the
router's egress records unchanged (every extension does), and HTTP targets also get it as a
plain ``traceparent`` header (:func:`http_headers`), so the receiver continues the trace.

Off and free unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: :func:`setup` then exports with
OTLP over HTTP (``pip install 'kbridge[otel]'``); otherwise :func:`enabled` is ``False``
and no hook imports or calls OpenTelemetry. Tests install an SDK provider with an
in-memory exporter through :func:`use_provider`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACEPARENT = "traceparent"
CE_TRACEPARENT = "ce_traceparent"

_tracer: Any = None
_provider: Any = None


def enabled() -> bool:
    """Whether spans are recorded (an exporter is configured or a test installed one)."""
    return _tracer is not None


def use_provider(provider: Any | None) -> None:
    """Record spans with ``provider`` (an SDK ``TracerProvider``); ``None`` switches off."""
    global _tracer, _provider
    _provider = provider
    _tracer = None if provider is None else provider.get_tracer("kbridge")


def setup(service: str) -> bool:
    """Export spans with OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (idempotent).

    ``service`` names the process (``gateway``, ``router``, ``sink``, ``source``); the
    standard ``OTEL_*`` variables (headers, timeouts, ``OTEL_SERVICE_NAME``) apply.
    """
    if _tracer is not None:
        return True
    if not os.environ.get(ENDPOINT_VARIABLE):
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "%s is set but the OpenTelemetry SDK is not installed: pip install 'kbridge[otel]'",
            ENDPOINT_VARIABLE,
        )
        return False
    name = os.environ.get("OTEL_SERVICE_NAME") or f"kbridge-{service}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use_provider(provider)
    import atexit

    atexit.register(provider.shutdown)
    log.info("OpenTelemetry spans exported to %s", os.environ[ENDPOINT_VARIABLE])
    return True


def find_traceparent(headers: Iterable[tuple[str, bytes | str | None]] | None) -> str | None:
    """The ``ce_traceparent`` of a Kafka record's headers, if any."""
    for name, value in headers or ():
        if name == CE_TRACEPARENT and value:
            return value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return None


def record_span(
    name: str,
    *,
    traceparent: str | None,
    start: float,
    end: float | None = None,
    attributes: Mapping[str, str | int | float | bool] | None = None,
    kind: str = "INTERNAL",
    error: str | None = None,
) -> str | None:
    """Record a finished span (epoch-second times), child of ``traceparent`` when valid.

    Returns the span's own ``traceparent`` (for propagation); ``None`` when off.
    """
    if _tracer is None:
        return None
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    parent = propagator.extract({TRACEPARENT: traceparent}) if traceparent else None
    span = _tracer.start_span(
        name,
        context=parent,
        kind=getattr(trace.SpanKind, kind),
        start_time=int(start * 1e9),
        attributes=dict(attributes or {}),
    )
    if error is not None:
        span.set_status(trace.Status(trace.StatusCode.ERROR, error))
    span.end(end_time=int((end if end is not None else time.time()) * 1e9))
    carrier: dict[str, str] = {}
    propagator.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get(TRACEPARENT)


def http_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``{"traceparent": ...}`` for an HTTP delivery of an event that carries one."""
    value = headers.get(CE_TRACEPARENT)
    return {TRACEPARENT: value} if value else {}
