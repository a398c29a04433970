"""Live tail of a bus as server-sent events, filtered by an EventBridge pattern.

The tail reads the bus topic ``kbridge.bus.<bus>`` from its current end with a consumer
that is assigned partitions (no group membership, no commits), so watching a bus never
moves the router's position. Each record is decoded and matched exactly as the router
does (``decode_json_form`` + ``aws_view`` + the compiled pattern). The stream starts with a
``ready`` event once the start offsets are fixed (an event sent after it will be shown),
sends a comment every few seconds to keep proxies open and ends after ``seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from processor.console.access import authorize_read
from processor.console.api import live_config
from processor.errors import KbridgeError
from processor.events import decode_json_form
from processor.gateway.context import GatewayContext, get_context
from processor.gateway.errors import ApiError
from processor.kafka.config import KafkaClientConfig
from processor.kafka.consumer import make_consumer
from processor.kafka.topics import bus_topic
from processor.patterns import Pattern, PatternError, compile_pattern
from processor.router.core import aws_view

logger = logging.getLogger(__name__)
router = APIRouter(tags=["console"])

MAX_SECONDS = 3600.0
KEEPALIVE_SECONDS = 5.0
MAX_EVENTS_PER_POLL = 200
MAX_TAILS = 8
"""Open tails per gateway process: each holds a consumer and a thread while it polls."""

_open = {"tails": 0}


def sse(event: str, data: Any) -> bytes:
    """One server-sent event (``data`` as one line of JSON)."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def parse_filter(pattern: str | None) -> Pattern | None:
    """The compiled filter, or 400 with the pattern language's own message."""
    if pattern is None or not pattern.strip():
        return None
    try:
        return compile_pattern(pattern)
    except PatternError as exc:
        raise ApiError(400, "invalid-pattern", str(exc)) from None


def matching_event(
    value: bytes | None, headers: list[tuple[str, bytes]], pattern: Pattern | None
) -> dict[str, Any] | None:
    """The record's event when it matches ``pattern`` (as the router sees it), else ``None``.

    A record that does not decode is shown (unfiltered tails only) with the decoder's
    message, since it is exactly what someone tailing a bus wants to see.
    """
    try:
        event: dict[str, Any] = decode_json_form(value or b"", headers)
    except KbridgeError as exc:
        return None if pattern is not None else {"undecodable": exc.message}
    if pattern is not None:
        try:
            if not pattern.matches(aws_view(event)):
                return None
        except KbridgeError:
            return None
    return event


def _start(consumer: Consumer, topic: str, timeout: float) -> list[TopicPartition]:
    """Assign every partition of ``topic`` at its current end (a concrete offset)."""
    metadata = consumer.list_topics(topic, timeout=timeout)
    info = metadata.topics.get(topic)
    if info is None or info.error is not None:
        raise ApiError(404, "not-found", f"topic {topic} does not exist (yet)")
    starts = []
    for partition in sorted(info.partitions):
        tp = TopicPartition(topic, partition)
        _, high = consumer.get_watermark_offsets(tp, timeout=timeout)
        starts.append(TopicPartition(topic, partition, high))
    consumer.assign(starts)
    return starts


def record_headers(message: Any) -> list[tuple[str, bytes]]:
    """A consumed record's headers as ``(name, bytes)`` pairs (``None`` values as empty)."""
    found: list[tuple[str, Any]] = list(message.headers() or [])
    return [(str(k), v if isinstance(v, bytes) else (v or "").encode()) for k, v in found]


async def stream(
    kafka: KafkaClientConfig,
    bus: str,
    pattern: Pattern | None,
    seconds: float,
    request: Request,
) -> AsyncIterator[bytes]:
    """The SSE body: ``ready``, then ``event`` per matching record, until done or gone."""
    topic = bus_topic(bus)
    _open["tails"] += 1
    consumer = make_consumer(kafka, f"kbridge-console-tail-{uuid.uuid4().hex[:12]}")
    try:
        starts = await asyncio.to_thread(_start, consumer, topic, 10.0)
        yield sse("ready", {"bus": bus, "topic": topic, "partitions": len(starts)})
        deadline = time.monotonic() + seconds
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and not await request.is_disconnected():
            messages = await asyncio.to_thread(consumer.consume, MAX_EVENTS_PER_POLL, 0.5)
            for message in messages:
                if message.error() is not None:
                    continue
                event = matching_event(message.value(), record_headers(message), pattern)
                if event is None:
                    continue
                quiet_since = time.monotonic()
                yield sse(
                    "event",
                    {
                        "partition": message.partition(),
                        "offset": message.offset(),
                        "timestamp": message.timestamp()[1],
                        "event": event,
                    },
                )
            if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                quiet_since = time.monotonic()
                yield b": keepalive\n\n"
        yield sse("end", {"reason": "time limit"})
    finally:
        _open["tails"] -= 1
        await asyncio.to_thread(consumer.close)


@router.get("/v1/console/tail/{bus}", summary="Live tail of a bus (server-sent events)")
async def tail(
    bus: str,
    request: Request,
    pattern: str | None = None,
    seconds: float = 600.0,
    context: GatewayContext = Depends(get_context),
) -> StreamingResponse:
    """Events arriving on ``bus`` from now on that match ``pattern`` (JSON), as SSE."""
    authorize_read(context, request)
    if live_config(context).bus(bus) is None:
        raise ApiError(404, "not-found", f"bus {bus!r} does not exist")
    if not 0 < seconds <= MAX_SECONDS:
        raise ApiError(
            400, "invalid-seconds", f"seconds must be more than 0 and at most {MAX_SECONDS:g}"
        )
    compiled = parse_filter(pattern)
    if _open["tails"] >= MAX_TAILS:
        raise ApiError(
            429,
            "too-many-tails",
            f"{MAX_TAILS} live tails are open on this gateway; stop one and retry",
            headers={"Retry-After": "5"},
        )
    return StreamingResponse(
        stream(request.app.state.kafka, bus, compiled, seconds, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
