"""PutEvents: ``POST /v1/buses/{bus}/events`` (and the logic the AWS JSON 1.1 endpoint shares).

Each entry is validated and mapped on its own (:mod:`processor.gateway.aws`); the valid ones
are produced concurrently and the response lists, in request order, an ``EventId`` for each
entry Kafka acknowledged and an ``ErrorCode``/``ErrorMessage`` for each that failed, with
``FailedEntryCount``, exactly as AWS answers. A request-level problem (not JSON, no
``Entries``, too many entries) is a 400 and nothing is produced.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from random import getrandbits
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from processor.errors import InvalidEventError
from processor.events.attributes import check_time, check_uri_reference, format_time
from processor.gateway.aws import EntryError, bus_name, entry_form, entry_size, result_body
from processor.gateway.aws_rules import (
    KAFKA_HEADER_ALLOWANCE,
    REQUEST_TOO_LARGE,
    entries_size,
    request_body_limit,
)
from processor.gateway.body import parse_json
from processor.gateway.context import GatewayContext
from processor.gateway.errors import ApiError
from processor.gateway.ingest import Answer, IngestRequest, as_response, declared_size, json_answer
from processor.gateway.publisher import OUTCOME_UNKNOWN, EncodedEvent, Published, Rejected

router = APIRouter(tags=["events"])


class PutEventsEntry(BaseModel):
    """One entry, as in AWS's PutEventsRequestEntry."""

    model_config = ConfigDict(extra="allow")

    Source: str = Field(description="Becomes the CloudEvent source (a URI-reference).")
    DetailType: str = Field(description="Becomes the CloudEvent type.")
    Detail: str = Field(description="A JSON object, as a string; becomes the event data.")
    Resources: list[str] | None = Field(default=None, description="ARNs or other ids.")
    Time: float | str | None = Field(default=None, description="Epoch seconds or ISO 8601.")
    EventBusName: str | None = Field(default=None, description="Must match the path's bus.")
    TraceHeader: str | None = None


class PutEventsResultEntry(BaseModel):
    """An EventId on success, ErrorCode and ErrorMessage on failure."""

    EventId: str | None = None
    ErrorCode: str | None = None
    ErrorMessage: str | None = None


class PutEventsResponse(BaseModel):
    """AWS's PutEvents response."""

    FailedEntryCount: int
    Entries: list[PutEventsResultEntry]


def request_schema(max_entries: int) -> dict[str, Any]:
    """The OpenAPI schema of a PutEvents request body."""
    return {
        "type": "object",
        "required": ["Entries"],
        "properties": {
            "Entries": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_entries,
                "items": PutEventsEntry.model_json_schema(),
            }
        },
    }


def entries_of(document: Any, max_entries: int, max_bytes: int | None = None) -> list[Any]:
    """The ``Entries`` list of a PutEvents request, or a 400 naming the problem.

    ``max_bytes`` bounds the entries' total AWS entry size (one 400 ValidationException for
    the request, as AWS answers; :mod:`processor.gateway.aws_rules`).
    """
    if not isinstance(document, dict):
        raise ApiError(400, "invalid-request", "the request body must be a JSON object")
    entries = document.get("Entries")
    if not isinstance(entries, list):
        raise ApiError(400, "invalid-request", "'Entries' is required and must be a list")
    if not 1 <= len(entries) <= max_entries:
        raise ApiError(
            400,
            "invalid-request",
            f"'Entries' must hold between 1 and {max_entries} entries, got {len(entries)}",
        )
    if max_bytes is not None and entries_size(entries, entry_size) > max_bytes:
        raise ApiError(400, "ValidationException", REQUEST_TOO_LARGE)
    return entries


async def put_entries(
    context: GatewayContext,
    entries: Sequence[Any],
    route: Callable[[Any], str | EntryError],
    endpoint: str,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Validate, encode and publish entries; ``route`` picks each entry's bus (or refuses it).

    Raises a 503 :class:`ApiError` (nothing produced) when the gateway sheds load.
    """
    results: list[dict[str, str] | None] = [None] * len(entries)
    by_bus: dict[str, tuple[list[int], list[EncodedEvent]]] = {}
    now = format_time(datetime.now(UTC))
    metrics = context.metrics
    limits: dict[str, int] = {}  # one configuration lookup per bus and request
    for index, entry in enumerate(entries):
        target = route(entry)
        if isinstance(target, EntryError):
            results[index] = target.as_result()
            continue
        limit = limits.get(target)
        if limit is None:
            limit = limits[target] = context.event_limit(target)
        encoded = entry_record(entry, target, limit, now, idempotency_key, index)
        if isinstance(encoded, EntryError):
            results[index] = encoded.as_result()
            metrics.failed.labels(target, endpoint, encoded.code).inc()
            continue
        positions, records = by_bus.setdefault(target, ([], []))
        positions.append(index)
        records.append(encoded)
    produced = False
    for bus, (positions, records) in by_bus.items():
        try:
            outcomes = await context.publisher.publish_records(
                bus, records, max_event_bytes=limits[bus] + KAFKA_HEADER_ALLOWANCE
            )
        except ApiError as exc:
            if not produced or exc.status != 503:
                raise  # nothing of the request was written: refuse it whole
            # Entries for an earlier bus were written: refuse only these, per entry.
            for index in positions:
                results[index] = {"ErrorCode": "ThrottlingException", "ErrorMessage": exc.message}
            metrics.failed.labels(bus, endpoint, exc.code).inc(len(positions))
            continue
        produced = True
        accepted = 0
        for index, outcome in zip(positions, outcomes, strict=True):
            if isinstance(outcome, Published):
                results[index] = {"EventId": outcome.event_id}
                accepted += 1
            else:
                results[index] = {
                    "ErrorCode": entry_error_code(outcome),
                    "ErrorMessage": outcome.message,
                }
                metrics.failed.labels(bus, endpoint, outcome.code).inc()
        if accepted:
            metrics.accept(bus, endpoint, accepted)
    return result_body([r for r in results if r is not None])


def entry_error_code(outcome: Rejected) -> str:
    """The PutEvents ``ErrorCode`` of a produce failure.

    ``OutcomeUnknown`` (kbridge's own code) means Kafka did not answer in time: the event
    may be written, so a client retrying it should keep its ``EventId`` (see
    :func:`entry_record`) for receivers to deduplicate.
    """
    if outcome.code == OUTCOME_UNKNOWN:
        return "OutcomeUnknown"
    return "InternalFailure" if outcome.retriable else "InvalidArgument"


def entry_record(
    entry: Any,
    bus: str,
    max_event_bytes: int,
    now: str,
    idempotency_key: str | None = None,
    index: int = 0,
) -> EncodedEvent | EntryError:
    """One entry straight to a binary-mode Kafka record (the PutEvents hot path).

    Same checks and the same record as ``encode(entry_to_event(...))`` without the pydantic
    model, and the value is the client's ``Detail`` text itself (parsed once to check it is
    a JSON object, never re-serialized). kbridge extensions to the entry (ignored by AWS):
    ``EventId`` (the CloudEvent id, so a retried entry keeps its id) and ``PartitionKey``
    (the Kafka key, also the ``partitionkey`` attribute). Without an ``EventId`` an
    ``Idempotency-Key`` request header derives stable ids per entry position; without
    either the id is a random UUID. The key is the ``PartitionKey``, else the event id, so
    that one busy Source spreads over every partition of the bus.
    """
    ids = kbridge_fields(entry, idempotency_key, index)
    if isinstance(ids, EntryError):
        return ids
    event_id, partition_key = ids
    form = entry_form(
        entry,
        bus,
        max_event_bytes=max_event_bytes,
        new_id=lambda: event_id,
        now=lambda: now,
        raw_data=True,
    )
    if isinstance(form, EntryError):
        return form
    value: bytes = form.pop("data")  # Detail's UTF-8 bytes, as the client sent them
    if partition_key is not None:
        form["partitionkey"] = partition_key
    try:
        # entry_form built every other attribute valid by construction (a string id, a
        # non-empty type, kbridge's own extension names with string values, a time it
        # rendered itself); these two are the ones a client's text reaches.
        check_uri_reference("source", form["source"])
        if form["time"] is not now:
            check_time("time", form["time"])
    except InvalidEventError as exc:
        return EntryError(
            "InvalidArgument", f"Parameter Entry is not valid. Reason: {exc.message}."
        )
    headers = [
        ("ce_" + name, value.encode()) for name, value in form.items() if name != "datacontenttype"
    ]
    headers.append(_JSON_CONTENT_TYPE)
    key = (partition_key or event_id).encode()
    return event_id, key, value, headers


_JSON_CONTENT_TYPE = ("content-type", b"application/json")
_ID_NAMESPACE = uuid.UUID("6f1c1e8e-2b7d-4f9a-9a59-6b2f0c6c7a10")
MAX_EVENT_ID = 256
MAX_PARTITION_KEY = 256


_VERSION_4 = (~(0xF000 << 64) & ~(0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_4_BITS = (0x4000 << 64) | (0x8000 << 48)


def new_event_id() -> str:
    """A random (version 4) UUID as text, without a system call per id.

    ``uuid.uuid4()`` reads 16 bytes from the kernel each time (about 7 us under load);
    event ids need uniqueness, not secrecy, so the process's Mersenne Twister (seeded from
    the kernel at start, per worker process) supplies the 122 random bits.
    """
    text = "%032x" % ((getrandbits(128) & _VERSION_4) | _VERSION_4_BITS)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def kbridge_fields(
    entry: Any, idempotency_key: str | None, index: int
) -> tuple[str, str | None] | EntryError:
    """The entry's event id and partition key (kbridge's optional extensions)."""
    if not isinstance(entry, dict):
        return new_event_id(), None  # entry_form reports the real problem
    event_id = entry.get("EventId")
    partition_key = entry.get("PartitionKey")
    if event_id is not None:
        if not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_EVENT_ID:
            return EntryError(
                "InvalidArgument",
                f"Parameter EventId is not valid. Reason: EventId must be a string of 1 to "
                f"{MAX_EVENT_ID} characters.",
            )
    elif idempotency_key is not None:
        event_id = str(uuid.uuid5(_ID_NAMESPACE, f"{idempotency_key}\n{index}"))
    else:
        event_id = new_event_id()
    if partition_key is not None and (
        not isinstance(partition_key, str) or not 1 <= len(partition_key) <= MAX_PARTITION_KEY
    ):
        return EntryError(
            "InvalidArgument",
            f"Parameter PartitionKey is not valid. Reason: PartitionKey must be a string of "
            f"1 to {MAX_PARTITION_KEY} characters.",
        )
    return event_id, partition_key


def _path_bus(bus: str) -> Callable[[Any], str | EntryError]:
    def route(entry: Any) -> str | EntryError:
        named = entry.get("EventBusName") if isinstance(entry, dict) else None
        if named and bus_name(named) != bus:
            return EntryError(
                "InvalidArgument",
                f"Parameter EventBusName is not valid. Reason: entry names bus "
                f"{bus_name(named)!r} but was posted to bus {bus!r}.",
            )
        return bus

    return route


@router.post(
    "/v1/buses/{bus}/events",
    summary="Put events (AWS PutEvents semantics)",
    response_class=Response,
    responses={
        200: {
            "description": "Per-entry results",
            "model": PutEventsResponse,
            "content": {"application/json": {}},
        },
        400: {"description": "Malformed request", "content": {"application/json": {}}},
        404: {"description": "Unknown bus"},
        413: {"description": "Request too large"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": request_schema(10)}},
        }
    },
)
async def put_events(bus: str, request: Request) -> Response:
    """Publish a batch of entries to ``bus``; answers after Kafka acknowledged each one."""
    # The gateway serves this route with serve_put_events before FastAPI's routing; the
    # declaration gives the OpenAPI document the route (and serves it the same if reached).
    context: GatewayContext = request.app.state.kbridge
    ingest = IngestRequest(request.scope, receive=request.receive)
    return as_response(await serve_put_events(bus, ingest, context))


async def serve_put_events(bus: str, request: IngestRequest, context: GatewayContext) -> Answer:
    """PutEvents on the gateway's hot path (:mod:`processor.gateway.fastpath`)."""
    context.require_bus(bus)
    context.authorize_put(request, bus)
    limit = request_body_limit(context.settings.max_batch_bytes)
    flow = context.publisher.flow
    reserved = flow.reserve(declared_size(request.header(b"content-length"), limit))
    try:
        body = await request.read_body(limit)
        entries = entries_of(
            parse_json(body), context.settings.max_batch_entries, context.settings.max_batch_bytes
        )
        key = request.header(b"idempotency-key")
        result = await put_entries(context, entries, _path_bus(bus), "putevents", key)
    finally:
        flow.release(reserved)
    return json_answer(result, 200)
