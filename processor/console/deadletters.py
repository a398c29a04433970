"""Dead letters per target in the console: list with their error headers, redrive one or all.

Listing and "redrive all" call :mod:`processor.sinks.dlq` (what ``kbridge dlq list`` and
``kbridge dlq redrive`` run), so the console and the CLI agree: redrive all continues from
the ``kbridge-redrive-<target>`` group's position. Redriving one letter re-sends exactly
the record at (partition, offset) the same way (same key and value, dead-letter headers
stripped, Kafka's acknowledgement awaited) without moving that group, so a later
"redrive all" would send it again; docs/console.md says so.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from confluent_kafka import TopicPartition
from fastapi import APIRouter, Depends, Request

from processor.console.access import authorize_read, authorize_write
from processor.console.api import live_config
from processor.console.tail import record_headers
from processor.errors import KbridgeError, RetriableError
from processor.gateway.context import GatewayContext, get_context
from processor.gateway.errors import ApiError
from processor.kafka.config import KafkaClientConfig
from processor.kafka.consumer import make_consumer
from processor.kafka.producer import Producer
from processor.kafka.topics import target_dlq_topic, target_topic
from processor.sinks import dlq
from processor.sinks.deadletter import strip_dead_letter_headers

router = APIRouter(tags=["console"])

PREVIEW_CHARS = 4000
"""How much of a dead letter's value the list shows."""
MAX_LIST = 500


def describe(record: dlq.DeadLetterRecord) -> dict[str, Any]:
    """A dead letter for the page: ``kbridge dlq list``'s columns, headers and the value."""
    text = record.value.decode("utf-8", "replace")
    return {
        **record.summary(),
        "headers": {k: v.decode("utf-8", "replace") for k, v in record.headers},
        "value": text[:PREVIEW_CHARS],
        "truncated": len(text) > PREVIEW_CHARS,
    }


def redrive_one(
    kafka: KafkaClientConfig, target: str, partition: int, offset: int, timeout: float = 10.0
) -> dict[str, Any]:
    """Re-send the dead letter at ``partition``/``offset`` to the target's egress topic."""
    topic = target_dlq_topic(target)
    consumer = make_consumer(kafka, f"kbridge-console-redrive-{target}")
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + timeout
        message = None
        while message is None and time.monotonic() < deadline:
            got = consumer.poll(0.5)
            if got is not None and got.error() is None:
                message = got
        if message is None or message.offset() != offset:
            raise KbridgeError(f"no dead letter at partition {partition} offset {offset}")
    finally:
        consumer.close()
    headers = record_headers(message)
    producer = Producer(kafka)
    try:
        outcomes = producer.send_batch(
            [
                (
                    target_topic(target),
                    message.value(),
                    message.key(),
                    strip_dead_letter_headers(headers),
                )
            ],
            timeout=timeout * 6,
        )
    finally:
        producer.close()
    if outcomes[0] is not None:
        raise RetriableError(f"redrive failed: {outcomes[0]}")
    return {"redriven": 1, "partition": partition, "offset": offset}


def _require_target(context: GatewayContext, target: str) -> None:
    if live_config(context).target(target) is None:
        raise ApiError(404, "not-found", f"target {target!r} does not exist")


def _api_error(exc: KbridgeError) -> ApiError:
    if isinstance(exc, RetriableError):
        return ApiError(503, exc.code, exc.message)
    return ApiError(404 if "no dead letter" in exc.message else 400, exc.code, exc.message)


@router.get("/v1/console/deadletters/{target}", summary="A target's dead letters")
async def list_letters(
    target: str,
    request: Request,
    limit: int = 100,
    context: GatewayContext = Depends(get_context),
) -> dict[str, Any]:
    """The oldest ``limit`` dead letters of ``target`` with their error headers."""
    authorize_read(context, request)
    _require_target(context, target)
    if not 0 < limit <= MAX_LIST:
        raise ApiError(400, "invalid-limit", f"limit must be 1-{MAX_LIST}")
    try:
        records = await asyncio.to_thread(
            dlq.list_dead_letters, request.app.state.kafka, target, limit=limit
        )
    except RetriableError as exc:
        if "does not exist" in exc.message:
            return {"target": target, "topic": target_dlq_topic(target), "items": []}
        raise _api_error(exc) from None
    except KbridgeError as exc:
        raise _api_error(exc) from None
    return {
        "target": target,
        "topic": target_dlq_topic(target),
        "items": [describe(r) for r in records],
    }


@router.post("/v1/console/deadletters/{target}/redrive", summary="Redrive all dead letters")
async def redrive_all(
    target: str, request: Request, context: GatewayContext = Depends(get_context)
) -> dict[str, Any]:
    """``kbridge dlq redrive <target>``: letters not redriven yet go back to the target."""
    authorize_write(context, request)
    _require_target(context, target)
    try:
        sent = await asyncio.to_thread(dlq.redrive, request.app.state.kafka, target)
    except KbridgeError as exc:
        raise _api_error(exc) from None
    return {"redriven": sent}


@router.post(
    "/v1/console/deadletters/{target}/{partition}/{offset}/redrive",
    summary="Redrive one dead letter",
)
async def redrive_single(
    target: str,
    partition: int,
    offset: int,
    request: Request,
    context: GatewayContext = Depends(get_context),
) -> dict[str, Any]:
    """Re-send one dead letter (by partition and offset) to the target."""
    authorize_write(context, request)
    _require_target(context, target)
    if partition < 0 or offset < 0:
        raise ApiError(400, "invalid-position", "partition and offset must be >= 0")
    try:
        return await asyncio.to_thread(
            redrive_one, request.app.state.kafka, target, partition, offset
        )
    except KbridgeError as exc:
        raise _api_error(exc) from None
