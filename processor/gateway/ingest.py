"""What the event-ingest handlers read and return: :class:`IngestRequest` and :data:`Answer`.

Why: the two routes that carry nearly all traffic (PutEvents and CloudEvents over HTTP)
used Starlette's ``Request`` and ``Response``. Per request that built a ``Headers`` object
(and scanned it, decoding every name, once per header asked for), read the body through an
async generator, and built a ``Response`` whose headers were rendered a second time by the
server. The gateway's own protocol (:mod:`processor.gateway.protocol`) already holds the
whole body and the raw header list when it answers: an :class:`IngestRequest` hands both
over as they are, and a handler's :data:`Answer` is written as it is. A request served
through the ASGI stack (a body without ``Content-Length``, OpenTelemetry on) gets the same
object, reading its body from ``receive`` within the same limit (:func:`read_body`).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from processor.gateway.body import read_body, too_large

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
"""``(status, headers, body)`` of a hot route's response (``Content-Length`` included)."""

JSON = b"application/json"


def json_answer(document: Any, status: int, content_type: bytes = JSON) -> Answer:
    """``document`` as a JSON answer (orjson: the stdlib encoder costs more per request)."""
    body = orjson.dumps(document)
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    return status, headers, body


async def send_answer(send: Send, answer: Answer) -> None:
    """Send an :data:`Answer` over ASGI."""
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def as_response(answer: Answer) -> Response:
    """An :data:`Answer` as a Starlette response (for a route reached through FastAPI)."""
    status, headers, body = answer
    response = Response(body, status_code=status)
    response.raw_headers = list(headers)
    return response


class IngestRequest:
    """A hot route's request: the ASGI scope, and the body when the server buffered it.

    Header names in ``scope["headers"]`` are lower-case bytes (the ASGI servers' form, which
    Starlette's ``Headers`` also relies on).
    """

    __slots__ = ("_body", "_headers", "_receive", "scope")

    def __init__(self, scope: Scope, body: bytes | None = None, receive: Receive | None = None):
        self.scope = scope
        self._body = body
        self._receive = receive
        self._headers: Headers | None = None

    def _receiver(self) -> Receive:
        """ASGI ``receive``: the server's, else one over the buffered body (made on demand:
        kept on the request, a bound method would make every request a reference cycle)."""
        return self._receive if self._receive is not None else self._buffered

    async def _buffered(self) -> dict[str, Any]:
        return {"type": "http.request", "body": self._body or b"", "more_body": False}

    def header(self, name: bytes) -> str | None:
        """The first value of header ``name`` (lower-case bytes), if the request has one."""
        for key, value in self.scope["headers"]:
            if key == name:
                text: str = value.decode("latin-1")
                return text
        return None

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """Every header as the server received it (lower-case names, latin-1 bytes)."""
        headers: list[tuple[bytes, bytes]] = self.scope["headers"]
        return headers

    @property
    def headers(self) -> Headers:
        """Starlette's case-insensitive view (for the rarer lookups: keys, the model path)."""
        if self._headers is None:
            self._headers = Headers(scope=self.scope)
        return self._headers

    async def read_body(self, limit: int) -> bytes:
        """The whole body, or 413 when it exceeds ``limit`` bytes (as :func:`read_body`)."""
        body = self._body
        if body is not None:
            if len(body) > limit:
                raise too_large(len(body), limit)
            return body
        return await read_body(Request(self.scope, self._receiver()), limit)

    def starlette(self) -> Request:
        """A Starlette request over the same scope (the app's exception handlers take one)."""
        return Request(self.scope, self._receiver())


def declared_size(content_length: str | None, limit: int) -> int:
    """The body size a request will take: its Content-Length, else ``limit`` (chunked)."""
    if content_length is not None and content_length.isdigit():
        return min(int(content_length), limit)
    return limit
