"""PutEvents: ``POST /v1/buses/{bus}/events`` (and the logic the AWS JSON 1.1 endpoint shares).

Each entry is validated and mapped on its own (:mod:`processor.gateway.aws`); the valid ones
are produced concurrently and the response lists, in request order, an ``EventId`` for each
entry Kafka acknowledged and an ``ErrorCode``/``ErrorMessage`` for each that failed, with
``FailedEntryCount``, exactly as AWS answers. A request-level problem (not JSON, no
``Entries``, too many entries) is a 400 and nothing is produced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from processor.events import CloudEvent
from processor.gateway.aws import EntryError, bus_name, entry_to_event, result_body
from processor.gateway.body import parse_json, read_body
from processor.gateway.context import GatewayContext, get_context
from processor.gateway.errors import ApiError
from processor.gateway.publisher import Published

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


def entries_of(document: Any, max_entries: int) -> list[Any]:
    """The ``Entries`` list of a PutEvents request, or a 400 naming the problem."""
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
    return entries


async def put_entries(
    context: GatewayContext,
    entries: Sequence[Any],
    route: Callable[[Any], str | EntryError],
    endpoint: str,
) -> dict[str, Any]:
    """Validate, map and publish entries; ``route`` picks each entry's bus (or refuses it)."""
    results: list[dict[str, str] | None] = [None] * len(entries)
    by_bus: dict[str, list[tuple[int, CloudEvent]]] = {}
    for index, entry in enumerate(entries):
        target = route(entry)
        if isinstance(target, EntryError):
            results[index] = target.as_result()
            continue
        mapped = entry_to_event(entry, target, max_event_bytes=context.event_limit(target))
        if isinstance(mapped, EntryError):
            results[index] = mapped.as_result()
            context.metrics.failed.labels(target, endpoint, mapped.code).inc()
        else:
            by_bus.setdefault(target, []).append((index, mapped))
    for bus, pending in by_bus.items():
        outcomes = await context.publisher.publish(
            bus, [event for _, event in pending], max_event_bytes=context.event_limit(bus)
        )
        for (index, _), outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, Published):
                results[index] = {"EventId": outcome.event_id}
                context.metrics.accepted.labels(bus, endpoint).inc()
            else:
                code = "InternalFailure" if outcome.retriable else "InvalidArgument"
                results[index] = {"ErrorCode": code, "ErrorMessage": outcome.message}
                context.metrics.failed.labels(bus, endpoint, outcome.code).inc()
    return result_body([r for r in results if r is not None])


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
async def put_events(
    bus: str, request: Request, context: GatewayContext = Depends(get_context)
) -> Response:
    """Publish a batch of entries to ``bus``; answers after Kafka acknowledged each one."""
    context.require_bus(bus)
    context.authorize_put(request, bus)
    body = await read_body(request, context.settings.max_batch_bytes)
    entries = entries_of(parse_json(body), context.settings.max_batch_entries)
    result = await put_entries(context, entries, _path_bus(bus), "putevents")
    return Response(orjson.dumps(result), media_type="application/json")
