"""The AWS JSON 1.1 protocol: ``POST /`` with ``X-Amz-Target: AWSEvents.<Operation>``.

So that ``boto3.client("events", endpoint_url=...)`` and the aws CLI work unchanged:
``PutEvents`` (bus per entry from ``EventBusName``, default ``default``) and
``TestEventPattern``. Errors use AWS's shape (``{"__type": ..., "message": ...}``), which
botocore turns into ``ClientError`` with the right code.

Authentication: when SigV4 access keys are configured, every request must carry a valid
signature from one of them (verified as AWS does) and the key's scopes apply per bus;
without access keys, signed requests are accepted unverified unless API-key auth is on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from processor.gateway.auth import presented_key, put_scope
from processor.gateway.aws import EntryError, bus_name, entry_size
from processor.gateway.aws_rules import (
    REQUEST_TOO_LARGE,
    bus_name_problem,
    entries_size,
    request_body_limit,
)
from processor.gateway.body import read_body
from processor.gateway.context import GatewayContext, get_context
from processor.gateway.errors import ApiError
from processor.gateway.ingest import declared_size
from processor.gateway.patterns_api import PatternTestError, evaluate_pattern
from processor.gateway.putevents import put_entries
from processor.gateway.sigv4 import SigV4Error, verify

logger = logging.getLogger(__name__)
router = APIRouter(tags=["aws"])

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "AWSEvents."


class AwsError(Exception):
    """An AWS-style error response."""

    def __init__(
        self,
        type_: str,
        message: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message
        self.status = status
        self.headers = headers


def aws_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON 1.1 response."""
    return Response(
        orjson.dumps(body), status_code=status, media_type=CONTENT_TYPE, headers=headers
    )


def aws_error(exc: AwsError) -> Response:
    """The JSON 1.1 error shape botocore reads."""
    return aws_response({"__type": exc.type, "message": exc.message}, exc.status, exc.headers)


async def _authenticate(
    request: Request, context: GatewayContext, body: bytes
) -> Iterable[str] | None:
    """The caller's scopes, or ``None`` when authentication is off."""
    access_keys = context.keys.access_keys
    if access_keys:
        try:
            key_id = verify(
                method=request.method,
                path=request.url.path,
                query=request.query_params.multi_items(),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                secrets={k: v.secret_access_key for k, v in access_keys.items()},
            )
        except SigV4Error as exc:
            type_ = (
                "UnrecognizedClientException"
                if "unknown access key" in exc.args[0]
                else "InvalidSignatureException"
            )
            raise AwsError(type_, str(exc), 403) from None
        return access_keys[key_id].scopes
    if context.settings.auth_enabled:
        presented = presented_key(request.headers)
        key = context.keys.authenticate(presented) if presented else None
        if key is None:
            raise AwsError(
                "UnrecognizedClientException", "a valid API key or SigV4 signature is required", 403
            )
        return key.scopes
    return None


def _bus_router(
    context: GatewayContext, scopes: Iterable[str] | None
) -> Callable[[Any], str | EntryError]:
    granted = None if scopes is None else frozenset(scopes)

    def route(entry: Any) -> str | EntryError:
        named = entry.get("EventBusName") if isinstance(entry, dict) else None
        problem = bus_name_problem(named)
        if problem is not None:
            return EntryError(*problem)
        bus = bus_name(named)
        if not context.buses.exists(bus):
            if not context.buses.loaded():
                return EntryError("InternalFailure", "the configuration is still loading.")
            return EntryError("ResourceNotFoundException", f"Event bus {bus} does not exist.")
        if granted is not None and not context.scopes_allow(granted, put_scope(bus)):
            return EntryError(
                "AccessDeniedException", f"not authorized to put events on bus {bus}."
            )
        return bus

    return route


async def _put_events(
    context: GatewayContext, document: Any, scopes: Any, idempotency_key: str | None = None
) -> Response:
    if not isinstance(document, dict) or not isinstance(document.get("Entries"), list):
        raise AwsError("ValidationException", "Entries is required and must be a list.")
    entries = document["Entries"]
    limit = context.settings.max_batch_entries
    if not 1 <= len(entries) <= limit:
        raise AwsError(
            "ValidationException",
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: "
            f"Member must have length between 1 and {limit}",
        )
    if entries_size(entries, entry_size) > context.settings.max_batch_bytes:
        raise AwsError("ValidationException", REQUEST_TOO_LARGE)
    try:
        body = await put_entries(
            context, entries, _bus_router(context, scopes), "aws-putevents", idempotency_key
        )
    except ApiError as exc:
        if exc.status != 503:
            raise
        # Shed load: botocore retries ThrottlingException by itself (with backoff).
        raise AwsError("ThrottlingException", exc.message, 503, exc.headers) from None
    return aws_response(body)


def _test_event_pattern(document: Any) -> Response:
    if not isinstance(document, dict):
        raise AwsError("ValidationException", "the request must be a JSON object.")
    event = document.get("Event")
    if not isinstance(event, str):
        raise AwsError(
            "ValidationException", "Parameter Event is not valid. Reason: Event is required."
        )
    try:
        result = evaluate_pattern(document.get("EventPattern"), event)
    except PatternTestError as exc:
        if exc.kind == "pattern":
            raise AwsError("InvalidEventPatternException", exc.message) from None
        raise AwsError(
            "ValidationException", f"Parameter Event is not valid. Reason: {exc.message}"
        ) from None
    return aws_response({"Result": result})


@router.post(
    "/",
    summary="AWS JSON 1.1 protocol (X-Amz-Target: AWSEvents.PutEvents | TestEventPattern)",
    responses={200: {"content": {CONTENT_TYPE: {}}}, 400: {"description": "AWS error shape"}},
)
async def aws_json(request: Request, context: GatewayContext = Depends(get_context)) -> Response:
    """Dispatch an AWS JSON 1.1 request by its ``X-Amz-Target`` header."""
    try:
        target = request.headers.get("x-amz-target", "")
        if not target.startswith(TARGET_PREFIX):
            raise AwsError(
                "UnknownOperationException", "X-Amz-Target must be AWSEvents.<Operation>"
            )
        operation = target[len(TARGET_PREFIX) :]
        limit = request_body_limit(context.settings.max_batch_bytes)
        flow = context.publisher.flow
        try:
            declared = declared_size(request.headers.get("content-length"), limit)
            reserved = flow.reserve(declared)  # the in-flight budget
        except ApiError as exc:
            raise AwsError("ThrottlingException", exc.message, 503, exc.headers) from None
        try:
            return await _dispatch(request, context, operation, limit)
        finally:
            flow.release(reserved)
    except AwsError as exc:
        return aws_error(exc)


async def _dispatch(
    request: Request, context: GatewayContext, operation: str, limit: int
) -> Response:
    try:
        body = await read_body(request, limit)
    except ApiError as exc:
        raise AwsError("ValidationException", exc.message, exc.status) from None
    scopes = await _authenticate(request, context, body)
    try:
        document = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise AwsError("SerializationException", f"body is not valid JSON: {exc}") from None
    if operation == "PutEvents":
        return await _put_events(context, document, scopes, request.headers.get("idempotency-key"))
    if operation == "TestEventPattern":
        return _test_event_pattern(document)
    raise AwsError("UnknownOperationException", f"operation {operation!r} is not supported")
