"""The gateway's HTTP/1.1 server protocol: uvicorn's httptools protocol, with the two
event-ingest routes answered inside the protocol instead of through ASGI.

Why: with the app itself lean (:mod:`processor.gateway.fastpath`), a profile of the gateway
serving single-event CloudEvents requests (py-spy ``--gil``, 16 clients) put a third of the
event loop's time in uvicorn's per-request ASGI machinery: a ``RequestResponseCycle`` with
its ``asyncio.Event``, the ASGI ``receive``/``send`` messages, a regex check of every
response header, the proxy-headers middleware, and **two** socket writes per response
(status line and headers, then the body: each a ``send`` system call). For
``POST /v1/buses/{bus}/events`` and ``.../cloudevents`` with a ``Content-Length`` this
protocol collects the body as the parser delivers it, runs
:meth:`~processor.gateway.fastpath.HotPath.answer` (the same guard checks, handler, error
rendering and latency metric as the ASGI path) at once, without an asyncio Task
(:mod:`processor.gateway.eager`), and writes the response with one ``write``.

Everything else takes uvicorn's own path unchanged: other routes, a body without
``Content-Length`` (the guard counts it while it streams), ``Expect: 100-continue``,
upgrades, percent-encoded paths, requests carrying ``X-Forwarded-*`` headers (uvicorn's
proxy-headers handling rewrites the client address and scheme), a request pipelined
behind one still being answered (uvicorn queues it behind the answer, as before), and
any request while FastAPI's OpenTelemetry instrumentation is on. Keep-alive, ``Connection:
close``, HTTP/1.0 and the server's default ``date``/``server`` headers behave as in
uvicorn's protocol.

Selected with ``kbridge gateway`` (``http=GatewayProtocol`` in uvicorn's options); an app
that is not a :class:`~processor.gateway.fastpath.GatewayApp` is served as plain uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from processor.gateway.eager import run_eagerly
from processor.gateway.fastpath import PREFIX, GatewayApp, Handler
from processor.gateway.guard import guarded_headers
from processor.gateway.ingest import Answer, IngestRequest

logger = logging.getLogger(__name__)

_PREFIX = PREFIX.encode("ascii")
_CLOSE = b"connection: close\r\n"


_heads: tuple[list[tuple[bytes, bytes]], dict[int, bytes]] = ([], {})
"""The server's default headers (uvicorn replaces the list when the date changes, once a
second) and, per status, the status line with them rendered."""


def _status_and_defaults(status: int, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """``STATUS_LINE[status]`` and the server's default headers (``date``, ``server``) as
    bytes, rendered once per status and second instead of once per response."""
    global _heads
    defaults, rendered = _heads
    if defaults is not default_headers:
        rendered = {}
        _heads = (default_headers, rendered)
    head = rendered.get(status)
    if head is None:
        parts = [STATUS_LINE[status]]
        for name, value in default_headers:
            parts += (name, b": ", value, b"\r\n")
        head = rendered[status] = b"".join(parts)
    return head


def find_gateway(app: Any) -> GatewayApp | None:
    """The :class:`GatewayApp` inside uvicorn's wrappers (proxy headers, logging), if any."""
    for _ in range(8):
        if isinstance(app, GatewayApp):
            return app
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class _NoWaiter:
    """The ``message_event`` of :class:`_Answering`: uvicorn sets it when the connection is
    lost, to wake an app waiting for more body; a hot request never waits for its body."""

    __slots__ = ()

    def set(self) -> None:
        """Nothing waits on it."""


_NO_WAITER = _NoWaiter()


class _Answering:
    """Stands in for uvicorn's ``RequestResponseCycle`` while a hot request is answered, so
    that uvicorn queues a request pipelined behind it and reads its connection state."""

    __slots__ = ("disconnected", "keep_alive", "response_complete")

    message_event = _NO_WAITER

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.response_complete = False
        self.disconnected = False


class _HotRequest:
    """A hot request whose body is still arriving."""

    __slots__ = ("answering", "body", "dispatched", "hot", "refused", "scope")

    def __init__(
        self,
        scope: Any,
        hot: tuple[str, str, Handler],
        refused: tuple[int, str, str] | None,
        answering: _Answering,
    ) -> None:
        self.scope = scope
        self.hot = hot
        self.refused = refused
        self.answering = answering
        self.body: list[bytes] = []
        self.dispatched = False


class GatewayProtocol(HttpToolsProtocol):
    """uvicorn's protocol, answering the ingest routes itself (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.gateway = find_gateway(self.app)
        self.hot_request: _HotRequest | None = None
        self.idle_until: float | None = None
        """When the idle keep-alive connection closes; None while a request is served."""

    # --- keep-alive: one timer per connection, not one per response ----------------------
    # uvicorn arms a ``call_later`` after every response and cancels it when the next
    # request arrives (about 1.8 us per request with uvloop). Here the timer stays armed:
    # requests only move the deadline, and the timer re-arms itself for what remains.

    def _unset_keepalive_if_required(self) -> None:
        self.idle_until = None  # busy: the armed timer finds no deadline and waits again

    def on_response_complete(self) -> None:
        """uvicorn's, with the keep-alive deadline moved instead of a new timer armed."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.idle_until = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self.idle_until = self.loop.time() + self.timeout_keep_alive
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self._keep_alive_due
            )

    def _keep_alive_due(self) -> None:
        """The timer fired: close an idle connection past its deadline, else wait again."""
        self.timeout_keep_alive_task = None
        if self.transport.is_closing():
            return
        until = self.idle_until
        remaining = self.timeout_keep_alive if until is None else until - self.loop.time()
        if remaining > 0:
            self.timeout_keep_alive_task = self.loop.call_later(remaining, self._keep_alive_due)
        else:
            self.timeout_keep_alive_handler()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        task = self.timeout_keep_alive_task
        if task is not None:
            task.cancel()
            self.timeout_keep_alive_task = None

    def on_headers_complete(self) -> None:
        hot_request = self._hot_request()
        if hot_request is None:
            super().on_headers_complete()
            return
        self.hot_request = hot_request
        self.cycle = hot_request.answering  # type: ignore[assignment]
        if hot_request.refused is not None:  # answer now: the body is never read (as uvicorn)
            self._dispatch(hot_request)

    def _hot_request(self) -> _HotRequest | None:
        """The hot request just parsed, or None for uvicorn's own path."""
        gateway = self.gateway
        hot_path = gateway.hot_path if gateway is not None else None
        if (
            hot_path is None
            or self.parser.get_method() != b"POST"
            or not self.url.startswith(_PREFIX)
            or self.expect_100_continue
            or self.root_path
            or (self.cycle is not None and not self.cycle.response_complete)  # pipelined
            or self.parser.should_upgrade()
        ):
            return None
        url = self.url
        if b"?" in url or b"#" in url:
            parsed = httptools.parse_url(url)
            raw_path: bytes = parsed.path
            query: bytes = parsed.query or b""
        else:  # the usual target: the path alone
            raw_path, query = url, b""
        if b"%" in raw_path:
            return None  # uvicorn unquotes it
        host, origin, content_type, declared, forwarded = guarded_headers(self.headers)
        if forwarded:
            return None  # uvicorn's proxy-headers middleware may rewrite the scope
        scope = self.scope
        scope["method"] = "POST"
        http_version = self.parser.get_http_version()
        if http_version != "1.1":
            scope["http_version"] = http_version
        path = raw_path.decode("ascii")
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = query
        hot = hot_path.match(scope)  # type: ignore[arg-type]
        if hot is None or gateway._otel_enabled():  # type: ignore[union-attr]
            return None
        refused, streamed = hot_path.guard.check_values(
            "POST", path, scope["scheme"], host, origin, content_type, declared
        )
        if streamed:
            return None
        keep_alive = http_version != "1.0" and self.parser.should_keep_alive()
        return _HotRequest(scope, hot, refused, _Answering(keep_alive))

    def on_body(self, body: bytes) -> None:
        hot_request = self.hot_request
        if hot_request is None:
            super().on_body(body)
        elif not hot_request.dispatched:
            hot_request.body.append(body)  # bounded: the guard checked the Content-Length

    def on_message_complete(self) -> None:
        hot_request = self.hot_request
        if hot_request is None:
            super().on_message_complete()
            return
        self.hot_request = None
        if not hot_request.dispatched:
            self._dispatch(hot_request)

    def _dispatch(self, hot_request: _HotRequest) -> None:
        hot_request.dispatched = True
        run_eagerly(self._answer(hot_request), self.loop, self.tasks)

    async def _answer(self, hot_request: _HotRequest) -> None:
        chunks = hot_request.body
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        request = IngestRequest(hot_request.scope, body)
        gateway = self.gateway
        assert gateway is not None and gateway.hot_path is not None
        answer = await gateway.hot_path.answer(
            gateway, request, hot_request.hot, hot_request.refused
        )
        self._respond(hot_request.answering, answer)

    def _respond(self, answering: _Answering, answer: Answer) -> None:
        """Write the whole response at once, then let uvicorn go on with the connection."""
        status, headers, body = answer
        answering.response_complete = True
        if answering.disconnected or self.transport.is_closing():
            return
        head = [_status_and_defaults(status, self.server_state.default_headers)]
        for name, value in headers:
            head += (name, b": ", value, b"\r\n")
        if not answering.keep_alive:
            head.append(_CLOSE)
        head += (b"\r\n", body)
        self.transport.write(b"".join(head))
        if not answering.keep_alive:
            self.transport.close()
        self.on_response_complete()
