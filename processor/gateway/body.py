"""Reading request bodies within the configured limits, and parsing JSON bodies.

A body over the limit is refused (413) as soon as its declared or streamed size passes the
limit, so an oversized upload never sits in memory; malformed JSON is a 400 naming the
parser's complaint.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from processor.gateway.errors import ApiError


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or 413 when it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            declared_size = int(declared)
        except ValueError:
            raise ApiError(400, "invalid-request", "Content-Length is not a number") from None
        if declared_size > limit:
            raise too_large(declared_size, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(size: int, limit: int) -> ApiError:
    """413 naming the size and the limit."""
    return ApiError(
        413, "request-too-large", f"request body is {size} bytes or more; the limit is {limit}"
    )


def parse_json(body: bytes, what: str = "request body") -> Any:
    """Parse JSON or raise 400 naming the problem."""
    if not body:
        raise ApiError(400, "malformed-json", f"{what} is empty; a JSON document is expected")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed-json", f"{what} is not valid JSON: {exc}") from None
