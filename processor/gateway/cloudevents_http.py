"""CloudEvents HTTP protocol binding: ``POST /v1/buses/{bus}/cloudevents``.

* binary mode: attributes in ``ce-*`` headers (percent-decoded), ``Content-Type`` is
  ``datacontenttype``, the body is the data (parsed by the same rules as on Kafka);
* structured mode: ``application/cloudevents+json``, one event as a JSON object;
* batch mode: ``application/cloudevents-batch+json``, a JSON array of structured events.

Every event of a request is validated before anything is produced (an invalid event is a
400 naming its index and problem); produce failures are then reported per event.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from processor.errors import InvalidEventError
from processor.events import CloudEvent
from processor.events.http import binary_event
from processor.gateway.binary_mode import binary_record
from processor.gateway.body import parse_json
from processor.gateway.context import GatewayContext, get_context
from processor.gateway.errors import ApiError, error_body
from processor.gateway.ingest import Answer, IngestRequest, as_response, declared_size, json_answer
from processor.gateway.publisher import Outcome, Published

router = APIRouter(tags=["events"])

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
HEADER_PREFIX = "ce-"


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header, lower-case."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def structured_events(body: bytes, batch: bool) -> list[CloudEvent]:
    """Read a structured or batch request; 400 naming the failing event."""
    document = parse_json(body)
    if not batch:
        return [CloudEvent.from_json_dict(document)]
    if not isinstance(document, list):
        raise ApiError(400, "invalid-event", f"a {BATCH} body must be a JSON array of events")
    events = []
    for index, item in enumerate(document):
        try:
            events.append(CloudEvent.from_json_dict(item))
        except InvalidEventError as exc:
            raise ApiError(400, "invalid-event", f"event [{index}]: {exc.message}") from None
    return events


def _result(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, Published):
        return {"id": outcome.event_id, "accepted": True}
    return {"id": outcome.event_id, "accepted": False, **error_body(outcome.code, outcome.message)}


@router.post(
    "/v1/buses/{bus}/cloudevents",
    summary="Publish CloudEvents (HTTP binding: binary, structured or batch)",
    status_code=202,
    responses={
        202: {"description": "Every event was acknowledged by Kafka"},
        400: {"description": "Not a valid CloudEvent"},
        404: {"description": "Unknown bus"},
        413: {"description": "Too large"},
        503: {"description": "Kafka did not acknowledge; retry"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                STRUCTURED: {"schema": {"type": "object"}},
                BATCH: {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/json": {"schema": {}},
            },
        }
    },
)
async def put_cloudevents(
    bus: str, request: Request, context: GatewayContext = Depends(get_context)
) -> Response:
    """Publish one event (binary or structured) or a batch; 202 once Kafka acknowledged."""
    # The gateway serves this route with serve_cloudevents before FastAPI's routing; the
    # declaration gives the OpenAPI document the route (and serves it the same if reached).
    ingest = IngestRequest(request.scope, receive=request.receive)
    return as_response(await serve_cloudevents(bus, ingest, context))


async def serve_cloudevents(bus: str, request: IngestRequest, context: GatewayContext) -> Answer:
    """CloudEvents over HTTP on the gateway's hot path (:mod:`processor.gateway.fastpath`)."""
    context.require_bus(bus)
    context.authorize_put(request, bus)
    kind = media_type(request.header(b"content-type"))
    batch = kind == BATCH
    event_limit = context.event_limit(bus)
    limit = context.settings.max_batch_bytes if batch else event_limit
    flow = context.publisher.flow
    reserved = flow.reserve(declared_size(request.header(b"content-length"), limit))  # 503: shed
    try:
        return await _publish_request(context, bus, request, kind, limit, event_limit)
    finally:
        flow.release(reserved)


async def _publish_request(
    context: GatewayContext,
    bus: str,
    request: IngestRequest,
    kind: str,
    limit: int,
    event_limit: int,
) -> Answer:
    batch = kind == BATCH
    publisher = context.publisher
    body = await request.read_body(limit)
    if batch or kind == STRUCTURED:
        events = structured_events(body, batch)
    else:
        record = binary_record(request.raw_headers, body) if publisher.binary else None
        if record is not None:  # the common shape, without a model (binary_mode.py)
            outcomes = await publisher.publish_records(bus, [record], max_event_bytes=event_limit)
            return _single_answer(context, bus, outcomes[0])
        events = [binary_event(request.headers, body)]
    if batch and len(events) > context.settings.max_batch_entries:
        raise ApiError(
            400,
            "batch-too-large",
            f"a batch may hold at most {context.settings.max_batch_entries} events, "
            f"got {len(events)}",
        )
    if not events:
        return json_answer({"failed": 0, "events": []}, 202)
    outcomes = await publisher.publish(bus, events, max_event_bytes=event_limit)
    if not batch:
        return _single_answer(context, bus, outcomes[0])
    failed = [o for o in outcomes if not isinstance(o, Published)]
    if len(failed) < len(outcomes):
        context.metrics.accept(bus, "cloudevents", len(outcomes) - len(failed))
    for rejected in failed:
        context.metrics.failed.labels(bus, "cloudevents", rejected.code).inc()
    status = 202
    if failed and len(failed) == len(outcomes):
        status = 503 if all(o.retriable for o in failed) else 400
    elif failed:
        status = 207
    body_out = {"failed": len(failed), "events": [_result(o) for o in outcomes]}
    return json_answer(body_out, status)


def _single_answer(context: GatewayContext, bus: str, outcome: Outcome) -> Answer:
    """202 with the event id, else the outcome as an error (counted either way)."""
    if isinstance(outcome, Published):
        context.metrics.accept(bus, "cloudevents", 1)
        return json_answer({"id": outcome.event_id}, 202)
    context.metrics.failed.labels(bus, "cloudevents", outcome.code).inc()
    headers = {"Retry-After": "1"} if outcome.retriable else None
    raise ApiError(outcome.status, outcome.code, outcome.message, headers=headers)


@router.options(
    "/v1/buses/{bus}/cloudevents",
    summary="CloudEvents webhook validation handshake (abuse protection)",
    status_code=200,
)
async def validate_webhook(
    bus: str, request: Request, context: GatewayContext = Depends(get_context)
) -> Response:
    """Answer the CloudEvents HTTP webhook spec's OPTIONS handshake for a declared bus.

    Senders such as Azure Event Grid ask before delivering; the answer grants the requesting
    origin (``WebHook-Allowed-Origin``) without a rate limit and allows POST.
    """
    context.require_bus(bus)
    headers = {"Allow": "POST", "WebHook-Allowed-Rate": "*"}
    origin = request.headers.get("webhook-request-origin")
    if origin:
        headers["WebHook-Allowed-Origin"] = origin
    return Response(status_code=200, headers=headers)
