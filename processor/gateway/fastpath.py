"""Serving the event-ingest routes without FastAPI's per-request machinery.

Why: profiling the gateway under load put most of a request's event-loop CPU outside the
handlers: FastAPI's telemetry check, Starlette's error and body-limit middleware, then the
gateway's own timing, guard and traceparent middleware, each with its own ``send`` wrapper.
For the two routes that carry nearly all traffic (``POST /v1/buses/{bus}/events`` and
``POST /v1/buses/{bus}/cloudevents``) :class:`GatewayApp` answers in one flat step
(:class:`HotPath`): the same request guard checks (:class:`~processor.gateway.guard.
GuardMiddleware`), the same traceparent rule, the same latency histogram, the handler, and
its errors rendered by the app's own exception handlers (an exception none of them handles
is logged and answered 500 with the gateway's JSON error body). Everything else (other routes, a
body without ``Content-Length`` that the guard must count while it streams, FastAPI's
OpenTelemetry server spans when a tracer provider is configured) takes the full middleware
stack, where :class:`HotRoutes` still dispatches the hot routes without FastAPI routing.
The routes stay declared on the FastAPI app as well, for the OpenAPI document.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from processor.gateway.errors import error_body
from processor.gateway.guard import GuardMiddleware, refusal_response
from processor.gateway.ingest import Answer, IngestRequest, json_answer, send_answer
from processor.gateway.metrics import GatewayMetrics
from processor.gateway.tracing import traceparent_of, traceparent_scope

logger = logging.getLogger(__name__)

Handler = Callable[[str, IngestRequest], Awaitable[Answer]]
ExceptionHandlers = Callable[[], Mapping[Any, Any]]
PREFIX = "/v1/buses/"
TELEMETRY_RECHECK_SECONDS = 1.0
"""How long FastAPI's "is OpenTelemetry configured" answer is reused (it reads providers)."""


class RouteMark:
    """What the timing middleware reads as the endpoint label (``scope["route"].path``)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def _hot_handler(scope: Scope, handlers: Mapping[str, Handler]) -> tuple[str, str, Handler] | None:
    """``(bus, tail, handler)`` of a ``POST /v1/buses/{bus}/<tail>`` request, else None."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not path.startswith(PREFIX):
        return None
    bus, slash, tail = path[len(PREFIX) :].partition("/")
    handler = handlers.get(tail) if slash and bus else None
    return None if handler is None else (bus, tail, handler)


async def _render(
    exception_handlers: ExceptionHandlers, request: IngestRequest, exc: Exception
) -> Answer:
    """The app's registered handler's answer to ``exc`` (by class hierarchy), else re-raise."""
    handlers = exception_handlers()
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            response: Response = await handler(request.starlette(), exc)
            return response.status_code, response.raw_headers, bytes(response.body)
    raise exc


class HotRoutes:
    """ASGI middleware dispatching ``POST /v1/buses/{bus}/<tail>`` to plain handlers.

    The innermost middleware of the full stack (the guard and the timing middleware wrap
    it): used for the hot routes' requests that :class:`HotPath` leaves to the stack.
    """

    def __init__(
        self,
        app: ASGIApp,
        handlers: Mapping[str, Handler],
        exception_handlers: ExceptionHandlers,
    ) -> None:
        self.app = app
        self.handlers = dict(handlers)
        self.marks = {tail: RouteMark(PREFIX + "{bus}/" + tail) for tail in handlers}
        self.exception_handlers = exception_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = _hot_handler(scope, self.handlers)
        if hot is None:
            await self.app(scope, receive, send)
            return
        bus, tail, handler = hot
        scope["route"] = self.marks[tail]
        request = IngestRequest(scope, receive=receive)
        try:
            answer = await handler(bus, request)
        except Exception as exc:
            answer = await _render(self.exception_handlers, request, exc)
        await send_answer(send, answer)


_INTERNAL_ERROR = json_answer(
    error_body("internal-error", "the gateway failed to serve the request; see its log"), 500
)


class HotPath:
    """The hot routes in one step: guard, traceparent, handler, errors, latency."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        exception_handlers: ExceptionHandlers,
        guard: GuardMiddleware,
        metrics: GatewayMetrics,
    ) -> None:
        self.handlers = dict(handlers)
        self.marks = {tail: RouteMark(PREFIX + "{bus}/" + tail) for tail in handlers}
        self.exception_handlers = exception_handlers
        self.guard = guard
        self.metrics = metrics

    def match(self, scope: Scope) -> tuple[str, str, Handler] | None:
        """The hot route of ``scope`` if this path may serve it (see the module docstring)."""
        return _hot_handler(scope, self.handlers)

    async def answer(
        self,
        app: FastAPI,
        request: IngestRequest,
        hot: tuple[str, str, Handler],
        refused: tuple[int, str, str] | None,
    ) -> Answer:
        """The whole answer to a hot request the guard checked (``refused``: its refusal):
        ``(status, headers, body)``, with the latency observed. Never raises."""
        started = time.perf_counter()
        endpoint = "unmatched"
        status = 500
        scope = request.scope
        try:
            if refused is not None:
                answer = refusal_response(scope["path"], *refused)
                status = answer[0]
                return answer
            bus, tail, handler = hot
            mark = self.marks[tail]
            endpoint = mark.path
            scope["route"] = mark
            scope["app"] = app
            token = traceparent_scope(traceparent_of(scope))
            try:
                try:
                    answer = await handler(bus, request)
                except Exception as exc:
                    answer = await _render(self.exception_handlers, request, exc)
            finally:
                if token is not None:
                    token.var.reset(token)
            status = answer[0]
            return answer
        except Exception:
            logger.exception("serving %s failed", scope["path"])
            status = 500
            return _INTERNAL_ERROR
        finally:
            self.metrics.observe_latency(endpoint, status, time.perf_counter() - started)

    async def serve(
        self,
        app: FastAPI,
        scope: Scope,
        receive: Receive,
        send: Send,
        hot: tuple[str, str, Handler],
    ) -> bool:
        """Answer the request over ASGI; False (nothing sent) when the full stack must serve
        it (no ``Content-Length``: the guard's counting receive is needed)."""
        refused, streamed = self.guard._check(scope)
        if streamed:
            return False
        request = IngestRequest(scope, receive=receive)
        await send_answer(send, await self.answer(app, request, hot, refused))
        return True


class GatewayApp(FastAPI):
    """FastAPI with :class:`HotPath` in front for the event-ingest routes."""

    hot_path: HotPath | None = None
    _telemetry_checked = 0.0
    _telemetry_on = False

    def _otel_enabled(self) -> bool:
        """FastAPI's OpenTelemetry switch, re-read at most once per second."""
        now = time.monotonic()
        if now - self._telemetry_checked > TELEMETRY_RECHECK_SECONDS:
            native = getattr(self, "_native_telemetry", None)
            self._telemetry_on = bool(native is not None and native.enabled())
            self._telemetry_checked = now
        return self._telemetry_on

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot_path = self.hot_path
        if hot_path is not None:
            hot = hot_path.match(scope)
            if (
                hot is not None
                and not self._otel_enabled()
                and await hot_path.serve(self, scope, receive, send, hot)
            ):
                return
        await super().__call__(scope, receive, send)
