"""``GET /v1/events/<id>/trace``: an event's timeline, read from ``kbridge.trace``.

The route is declared in :mod:`processor.gateway.management` (the management API's auth
applies); this module turns the lookup (:mod:`processor.trace.lookup`, one partition read
from a time offset) into the JSON answer or a clear 4xx/503.
"""

from __future__ import annotations

import asyncio
from typing import Any

from processor.config.durations import parse_duration
from processor.errors import KbridgeError
from processor.gateway.errors import ApiError
from processor.kafka.config import KafkaClientConfig
from processor.trace import lookup, render

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
