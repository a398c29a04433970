"""Serving the event-ingest routes without FastAPI's per-request machinery.

Why: profiling the gateway under load (batches of 10, 16 clients) put about a third of
its request CPU in FastAPI's routing, exception and dependency layers for the two routes
that carry nearly all traffic. :class:`HotRoutes` is the innermost ASGI middleware (inside
the request guard and the timing middleware, so both still apply): it answers
``POST /v1/buses/{bus}/events`` and ``POST /v1/buses/{bus}/cloudevents`` by calling their
handlers directly and renders their errors with the app's own exception handlers. The
routes stay declared on the FastAPI app as well, for the OpenAPI document (and for any
request this middleware leaves alone).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[str, Request], Awaitable[Response]]
PREFIX = "/v1/buses/"


class RouteMark:
    """What the timing middleware reads as the endpoint label (``scope["route"].path``)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


class HotRoutes:
    """ASGI middleware dispatching ``POST /v1/buses/{bus}/<tail>`` to plain handlers."""

    def __init__(
        self,
        app: ASGIApp,
        handlers: Mapping[str, Handler],
        exception_handlers: Callable[[], Mapping[Any, Any]],
    ) -> None:
        self.app = app
        self.handlers = dict(handlers)
        self.marks = {tail: RouteMark(PREFIX + "{bus}/" + tail) for tail in handlers}
        self.exception_handlers = exception_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith(PREFIX):
                bus, slash, tail = path[len(PREFIX) :].partition("/")
                handler = self.handlers.get(tail) if slash and bus else None
                if handler is not None:
                    scope["route"] = self.marks[tail]
                    request = Request(scope, receive, send)
                    try:
                        response = await handler(bus, request)
                    except Exception as exc:
                        response = await self._render(request, exc)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _render(self, request: Request, exc: Exception) -> Response:
        """The app's registered handler for ``exc`` (by class hierarchy), else re-raise."""
        handlers = self.exception_handlers()
        for cls in type(exc).__mro__:
            handler = handlers.get(cls)
            if handler is not None:
                response: Response = await handler(request, exc)
                return response
        raise exc
