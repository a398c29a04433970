"""The FastAPI router serving every webhook source at ``/v1/webhooks/{name}``.

``POST /v1/webhooks/{name}`` (and ``/v1/webhooks/{name}/{token}`` for token-authenticated
sources; ``GET`` on both for platforms that verify the endpoint with a GET) resolves the
source by name, builds its connector, verifies, answers handshakes, maps the delivery to
CloudEvents and awaits ``publish`` for each before answering, so a 2xx means Kafka
acknowledged. Errors use the gateway's body, ``{"error": {"code": ..., "message": ...}}``:

=====  ==========================================================================
400    malformed body (``malformed``)
401    missing/wrong signature or token (``unauthorized``), stale timestamp (``replay``)
403    client address outside the source's IP allowlist (``forbidden``)
404    no webhook source of that name (``not-found``)
405    GET on a source whose platform never sends one (``method-not-allowed``)
413    body above ``max_body_bytes`` (``request-too-large``)
503    Kafka did not acknowledge, or the configuration is not loaded yet (``unavailable``,
       ``Retry-After: 1``); the platform's retry carries the same delivery id, so it
       deduplicates downstream
=====  ==========================================================================

Nothing is published for a rejected delivery. Auth failures are logged at WARNING with the
source name and reason, never with secrets or signatures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from processor.config.sources import WebhookSourceBase
from processor.errors import ConfigError, InvalidEventError, KbridgeError
from processor.gateway.webhooks.base import (
    Clock,
    WebhookConnector,
    WebhookError,
    WebhookRequest,
    build_connector,
    connector_class,
)
from processor.gateway.webhooks.publish import Publish

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 256 * 1024
"""The design's per-event limit; a webhook body becomes one event's data."""

SourceResolver = Callable[[str], object | None]
"""Returns the configured source of that name (any kind), or None."""


_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Published (after Kafka acknowledged), or a handshake answer"},
    **{
        status: {"description": text, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
        for status, text in [
            (400, "Malformed body"),
            (401, "Missing or wrong signature or token; stale timestamp (replay)"),
            (403, "Client address not in the IP allowlist"),
            (404, "No webhook source of that name"),
            (405, "GET on a source whose platform only POSTs"),
            (413, "Body over the size limit"),
            (503, "Kafka did not acknowledge; retry"),
        ]
    },
}


class _TooLarge(Exception):
    pass


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The gateway's JSON error body (see ``processor/gateway/errors.py``)."""
    return Response(
        content=orjson.dumps({"error": {"code": code, "message": message}}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes without buffering all of it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def build_webhook_router(
    resolve_source: SourceResolver,
    publish: Publish,
    *,
    clock: Clock = time.time,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> APIRouter:
    """The router to mount into the gateway app (``app.include_router(...)``).

    ``resolve_source(name)`` is called per request, so live config changes apply at once;
    ``publish(bus, event)`` must complete only when Kafka acknowledged; ``clock`` returns
    Unix seconds and is injectable for replay-window tests.
    """
    router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

    def _connector(name: str) -> tuple[object, WebhookConnector[WebhookSourceBase]] | None:
        source = resolve_source(name)
        if source is None or connector_class(str(getattr(source, "kind", ""))) is None:
            return None
        return source, build_connector(source)

    async def handle(request: Request, name: str, token: str | None) -> Response:
        try:
            found = _connector(name)
        except ConfigError as exc:
            logger.error("webhook source %s is misconfigured: %s", name, exc.message)
            return error_response(500, "misconfigured", f"webhook source {name!r} is misconfigured")
        except KbridgeError as exc:
            if not exc.retriable:
                raise
            # The configuration is not loaded yet (gateway starting): the platform retries.
            logger.warning("webhook %s: source lookup failed: %s", name, exc)
            return error_response(503, "unavailable", exc.message, {"Retry-After": "1"})
        if found is None or (token is not None and not found[1].uses_path_token):
            return error_response(404, "not-found", f"no webhook source named {name!r}")
        source, connector = found
        if request.method == "GET" and not connector.accepts_get:
            return error_response(
                405, "method-not-allowed", f"webhook source {name!r} accepts POST only"
            )
        try:
            body = await _read_body(request, max_body_bytes)
        except _TooLarge:
            return error_response(
                413, "request-too-large", f"body exceeds the limit of {max_body_bytes} bytes"
            )
        delivery = WebhookRequest.build(
            body,
            headers=dict(request.headers),
            query=dict(request.query_params),
            method=request.method,
            client_ip=request.client.host if request.client else None,
            path_token=token,
        )
        try:
            connector.verify(delivery, clock())
            answer = connector.handshake(delivery)
            if answer is not None:
                logger.info("webhook %s: answered %s handshake", name, connector.platform)
                return Response(answer.body, answer.status, media_type=answer.media_type)
            if request.method == "GET":
                return error_response(
                    400, "malformed", "GET is only used for the platform's URL verification"
                )
            events = connector.to_events(delivery)
        except WebhookError as exc:
            level = logging.WARNING if exc.status in (401, 403) else logging.INFO
            logger.log(level, "webhook %s rejected (%s): %s", name, exc.code, exc.message)
            return error_response(exc.status, exc.code, exc.message)
        bus = str(getattr(source, "bus", "default"))
        for event in events:
            try:
                await publish(bus, event)
            except InvalidEventError as exc:
                return error_response(400, exc.code, exc.message)
            except KbridgeError as exc:
                logger.warning("webhook %s: publishing %s failed: %s", name, event.id, exc)
                message = f"event {event.id} was not stored: {exc}"
                if exc.retriable:
                    return error_response(503, "unavailable", message, {"Retry-After": "1"})
                return error_response(500, exc.code, message)
        logger.debug("webhook %s: published %d event(s) to bus %s", name, len(events), bus)
        answer = connector.acknowledge(events)
        return Response(answer.body, answer.status, media_type=answer.media_type)

    post = "Receive a SaaS webhook delivery"
    get = "Answer the platform's URL verification (WeCom echostr)"

    # One route per method, so every operation has its own stable OpenAPI operation id.
    @router.post("/{name}", operation_id="receive_webhook", summary=post, responses=_RESPONSES)
    async def receive_webhook(request: Request, name: str) -> Response:
        return await handle(request, name, None)

    @router.get("/{name}", operation_id="verify_webhook_url", summary=get, responses=_RESPONSES)
    async def verify_webhook_url(request: Request, name: str) -> Response:
        return await handle(request, name, None)

    @router.post(
        "/{name}/{token}", operation_id="receive_token_webhook", summary=post, responses=_RESPONSES
    )
    async def receive_token_webhook(request: Request, name: str, token: str) -> Response:
        return await handle(request, name, token)

    @router.get(
        "/{name}/{token}",
        operation_id="verify_token_webhook_url",
        summary=get,
        responses=_RESPONSES,
    )
    async def verify_token_webhook_url(request: Request, name: str, token: str) -> Response:
        return await handle(request, name, token)

    return router
