"""Tracing in the gateway: ``GET /v1/events/<id>/trace`` and the producer's traceparent.

The route is declared in :mod:`processor.gateway.management` (the management API's auth
applies); this module turns the lookup (:mod:`processor.trace.lookup`, one partition read
from a time offset) into the JSON answer or a clear 4xx/503. It also carries the W3C
``traceparent`` header of a request over to the events it publishes (docs/tracing.md).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from contextvars import ContextVar, Token
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from processor.config.durations import parse_duration
from processor.errors import KbridgeError
from processor.gateway.errors import ApiError
from processor.kafka.config import KafkaClientConfig
from processor.trace import lookup, render
from processor.trace.otel import CE_TRACEPARENT

MAX_SINCE = 31 * 86400.0
"""The longest window a request may ask for (the trace topic keeps less by default)."""


async def event_trace(kafka: KafkaClientConfig, event_id: str, since: str) -> dict[str, Any]:
    """The timeline of ``event_id`` over the last ``since``; 404 when nothing was traced."""
    try:
        window = parse_duration(since)
    except ValueError:
        raise ApiError(
            400, "invalid-since", f"since={since!r} is not a duration (90s, 10m, 24h)"
        ) from None
    if not 0 < window <= MAX_SINCE:
        raise ApiError(400, "invalid-since", "since must be more than 0 and at most 31d")
    if not event_id or len(event_id) > 1024:
        raise ApiError(400, "invalid-event-id", "the event id must be 1-1024 characters")
    try:
        records = await asyncio.to_thread(lookup.trace_event, kafka, event_id, since=window)
    except KbridgeError as exc:
        raise ApiError(503 if exc.retriable else 500, exc.code, exc.message) from None
    if not records:
        raise ApiError(
            404,
            "not-found",
            f"no trace of event {event_id!r} in the last {since} "
            "(not sent, not traced (sampling, tracing off for its bus) or older)",
        )
    return render.as_json(event_id, records)


# --- the producer's W3C traceparent on the HTTP request ------------------------------------

_TRACEPARENT = re.compile(rb"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_request_traceparent: ContextVar[bytes | None] = ContextVar("traceparent", default=None)


def request_traceparent() -> bytes | None:
    """The valid ``traceparent`` header of the request being served, if it had one."""
    return _request_traceparent.get()


class TraceparentMiddleware:
    """Remembers a request's W3C ``traceparent`` header for the events it carries.

    An OpenTelemetry-instrumented producer sends its trace context as the HTTP
    ``traceparent`` header, not as an event attribute; :func:`with_traceparent` gives it to
    every event of the request that does not carry its own (``ce-traceparent`` or the
    ``traceparent`` attribute of a structured event wins). Invalid values are ignored
    (https://www.w3.org/TR/trace-context/#traceparent-header).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = traceparent_scope(traceparent_of(scope)) if scope["type"] == "http" else None
        if token is None:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            _request_traceparent.reset(token)


def traceparent_of(scope: Scope) -> bytes | None:
    """The request's ``traceparent`` header when it is a valid W3C value, else None."""
    for name, value in scope["headers"]:
        if name == b"traceparent":
            return value if _TRACEPARENT.match(value) else None
    return None


def traceparent_scope(value: bytes | None) -> Token[bytes | None] | None:
    """Make ``value`` the served request's traceparent; the token resets it (None: unset)."""
    return None if value is None else _request_traceparent.set(value)


def with_traceparent(
    records: Sequence[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]],
    traceparent: bytes,
) -> list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    """Binary-mode records given ``ce_traceparent`` unless they carry one (structured-mode
    records, whose attributes are in the value, are left as they are)."""
    out = []
    for event_id, key, value, headers in records:
        names = {name for name, _ in headers}
        if CE_TRACEPARENT not in names and "ce_id" in names:
            headers = [*headers, (CE_TRACEPARENT, traceparent)]
        out.append((event_id, key, value, headers))
    return out
