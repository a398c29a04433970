"""Request guard: what every request must satisfy before a route sees it (issue 22.1, 22.2).

A browser on the gateway's host can reach 127.0.0.1, so the loopback bind alone does not
keep the management API private. This plain ASGI middleware closes the browser's ways in:

* **Host** (DNS rebinding: a page whose name resolves to 127.0.0.1 sends its own name as
  ``Host``): IP literals, ``localhost``, the bind address and ``allowed_hosts`` pass, other
  names get 403. Checked whenever auth is off or ``allowed_hosts`` is set (with auth on, a
  rebinding page cannot present a key; clusters reach the gateway under Service names).
  Liveness, readiness and metrics (read-only GETs) are not checked, for probes and scrapers.
* **Origin**: a browser names the page that sent a request; any Origin other than the
  gateway's own (``scheme://Host``) or one in ``allowed_origins`` gets 403. Non-browser
  clients send none.
* **Content-Type** on writes: a cross-origin "simple request" can only carry
  ``text/plain``, form or multipart bodies, so requiring JSON where the protocol defines it
  (management, pattern tests, PutEvents) makes every such write need a CORS preflight,
  which the gateway never grants. The AWS protocol (``X-Amz-Target``) and CloudEvents
  binary mode (``ce-*``) need custom headers, which force a preflight whatever the type;
  webhooks take the platform's type and are authenticated by its signature.
* **Body size**: one bound for every endpoint, including those FastAPI reads into a pydantic
  model: a declared ``Content-Length`` over it is refused before reading, a streamed body is
  cut off as soon as it passes it. PutEvents requests get room for JSON escaping of entries
  that are within AWS's request limit (:func:`processor.gateway.aws_rules.request_body_limit`).

Refusals are the gateway's usual JSON error body.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from processor.events.content import is_json_type
from processor.gateway.errors import error_body
from processor.gateway.ingest import Answer, json_answer, send_answer

logger = logging.getLogger(__name__)

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
_UNCHECKED_HOST_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_PUTEVENTS_PATH = re.compile(r"^/v1/buses/[^/]+/events/?$")
_CLOUDEVENTS_PATH = re.compile(r"^/v1/buses/[^/]+/cloudevents/?$")
_WEBHOOK_PREFIX = "/v1/webhooks/"
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
_WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
_CACHE_SIZE = 1024


class _BodyTooLarge(Exception):
    """The streamed body passed the limit (raised inside the app's ``receive``)."""


def _host_name(host_header: str) -> str:
    """The host part of a ``Host`` header or Origin netloc, lower-case, without port."""
    host = host_header.strip().lower()
    if host.startswith("["):  # [IPv6]:port
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class GuardPolicy:
    """What the guard lets through; built from the gateway settings by :func:`policy_for`."""

    allowed_hosts: frozenset[str]
    allowed_origins: frozenset[str]
    check_host: bool
    max_body_bytes: int
    putevents_body_bytes: int

    def host_allowed(self, host_header: str | None) -> bool:
        """Whether ``Host`` names this gateway (not a name rebound onto its address)."""
        if not self.check_host or host_header is None or "*" in self.allowed_hosts:
            return True
        host = _host_name(host_header)
        return (
            _is_ip_literal(host)  # rebinding needs a name: an IP literal is the address itself
            or host in _LOOPBACK_NAMES
            or host.endswith(".localhost")  # RFC 6761: always loopback
            or host in self.allowed_hosts
        )

    def origin_allowed(self, origin: str | None, host_header: str | None, scheme: str) -> bool:
        """Whether a browser's ``Origin`` is this gateway itself or explicitly allowed."""
        if origin is None:
            return True  # not a browser-initiated cross-origin request
        if "*" in self.allowed_origins or origin.rstrip("/") in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        if not parts.scheme or not parts.netloc or host_header is None:
            return False  # includes "null" (sandboxed frames, file: pages)
        return parts.scheme == scheme and parts.netloc.lower() == host_header.strip().lower()

    def body_limit(self, path: str) -> int:
        """The body bound of ``path``."""
        if path == "/" or _PUTEVENTS_PATH.match(path):
            return max(self.max_body_bytes, self.putevents_body_bytes)
        return self.max_body_bytes


def needs_json(method: str, path: str) -> bool:
    """Whether a request must declare a JSON body (writes whose protocol is plain JSON)."""
    if method not in _WRITE_METHODS:
        return False
    return not (path == "/" or path.startswith(_WEBHOOK_PREFIX) or _CLOUDEVENTS_PATH.match(path))


def policy_for(settings: Any, putevents_body_bytes: int) -> GuardPolicy:
    """The policy of a :class:`processor.settings.GatewaySettings`."""
    hosts = {_host_name(h) if h != "*" else "*" for h in settings.allowed_hosts}
    bind = _host_name(settings.host)
    if bind not in _WILDCARD_BINDS:
        hosts.add(bind)
    return GuardPolicy(
        allowed_hosts=frozenset(hosts),
        allowed_origins=frozenset(o.rstrip("/") for o in settings.allowed_origins),
        check_host=not settings.auth_enabled or bool(settings.allowed_hosts),
        max_body_bytes=settings.max_body_bytes,
        putevents_body_bytes=putevents_body_bytes,
    )


def exposure_warning(settings: Any) -> str | None:
    """A warning when the HTTP API is reachable beyond this host without API keys."""
    host = _host_name(settings.host)
    loopback = host in _LOOPBACK_NAMES or (
        _is_ip_literal(host) and ipaddress.ip_address(host).is_loopback
    )
    if settings.auth_enabled or loopback:
        return None
    return (
        f"the gateway binds to {settings.host!r} with API keys off: anyone who can reach the "
        "port can change routing through the management API; set "
        "KBRIDGE_GATEWAY__AUTH_ENABLED=true (docs/operations.md#security)"
    )


def refusal_response(path: str, status: int, code: str, message: str) -> Answer:
    """The guard's refusal as ``(status, headers, body)``: the AWS error shape on ``/``, else
    the gateway's."""
    if path == "/":  # the AWS JSON 1.1 protocol: botocore reads errors in AWS's shape
        aws_type = "AccessDeniedException" if status == 403 else "ValidationException"
        document = {"__type": aws_type, "message": message}
        return json_answer(document, status, b"application/x-amz-json-1.1")
    return json_answer(error_body(code, message), status)


async def refuse(send: Send, path: str, status: int, code: str, message: str) -> None:
    """Send the guard's refusal (:func:`refusal_response`) over ASGI."""
    await send_answer(send, refusal_response(path, status, code, message))


_FORWARDED = (b"x-forwarded-for", b"x-forwarded-proto")


def guarded_headers(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[str | None, str | None, str | None, bytes | None, bool]:
    """What the guard reads from a request's headers, in one pass: ``(host, origin,
    content_type, content_length, forwarded)`` (the last value of each; ``forwarded``:
    an ``X-Forwarded-For``/``-Proto`` header is present, which a proxy-headers middleware
    may turn into another client address or scheme)."""
    host = origin = content_type = declared = None
    forwarded = False
    for key, value in headers:
        name = key.lower()
        if name == b"host":
            host = value.decode("latin-1")
        elif name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"content-length":
            declared = value
        elif name == b"origin":
            origin = value.decode("latin-1")
        elif name in _FORWARDED:
            forwarded = True
    return host, origin, content_type, declared, forwarded


class GuardMiddleware:
    """Applies a :class:`GuardPolicy` to every HTTP request (plain ASGI, no per-request task).

    The per-request cost is one pass over the headers and a few dict lookups: answers for
    the Host names and content types seen are cached (bounded, so hostile values cannot
    grow the caches), and a body with a declared ``Content-Length`` within the limit is
    not wrapped (the HTTP server never hands over more than the declared length).
    """

    def __init__(self, app: ASGIApp, policy: GuardPolicy) -> None:
        self.app = app
        self.policy = policy
        self._hosts: dict[str, bool] = {}
        self._paths: dict[tuple[str, str], tuple[bool, int]] = {}

    def _host_allowed(self, host: str | None) -> bool:
        if host is None:
            return self.policy.host_allowed(None)
        known = self._hosts.get(host)
        if known is None:
            known = self.policy.host_allowed(host)
            if len(self._hosts) < _CACHE_SIZE:
                self._hosts[host] = known
        return known

    @staticmethod
    def _is_json(content_type: str | None) -> bool:
        """A JSON media type is declared (the events' own rule: ``is_json_type``)."""
        return content_type is not None and is_json_type(content_type)

    def _check(self, scope: Scope) -> tuple[tuple[int, str, str] | None, bool]:
        """The refusal, if any, and whether the body must be counted while it streams."""
        host, origin, content_type, declared, _ = guarded_headers(scope.get("headers") or ())
        return self.check_values(
            scope.get("method", "GET"),
            scope.get("path", ""),
            scope.get("scheme", "http"),
            host,
            origin,
            content_type,
            declared,
        )

    def check_values(
        self,
        method: str,
        path: str,
        scheme: str,
        host: str | None,
        origin: str | None,
        content_type: str | None,
        declared: bytes | None,
    ) -> tuple[tuple[int, str, str] | None, bool]:
        """:meth:`_check` on header values already read (the gateway's protocol reads them
        while it parses): the refusal, if any, and whether the body must be counted."""
        policy = self.policy
        if path not in _UNCHECKED_HOST_PATHS and not self._host_allowed(host):
            return (
                403,
                "host-not-allowed",
                f"Host {host!r} is not a name of this gateway; add it to "
                "KBRIDGE_GATEWAY__ALLOWED_HOSTS if clients use it (DNS-rebinding protection)",
            ), False
        if origin is not None and not policy.origin_allowed(origin, host, scheme):
            return (
                403,
                "origin-not-allowed",
                f"cross-origin requests from {origin!r} are refused; add the origin to "
                "KBRIDGE_GATEWAY__ALLOWED_ORIGINS to allow it",
            ), False
        json_only, limit = self._path_rules(method, path)
        if json_only and not self._is_json(content_type):
            given = _media_type(content_type)
            return (
                415,
                "unsupported-media-type",
                f"{method} {path} needs Content-Type application/json, got {given or 'none'!r}",
            ), False
        if declared is None:
            return None, True
        try:
            size = int(declared)
        except ValueError:
            return (400, "invalid-request", "Content-Length is not a number"), False
        if size > limit:
            message = f"request body is {size} bytes; the limit is {limit}"
            return (413, "request-too-large", message), False
        return None, False

    def _path_rules(self, method: str, path: str) -> tuple[bool, int]:
        """Whether ``method path`` needs a JSON body, and its body bound (cached: two regex
        matches per request otherwise)."""
        known = self._paths.get((method, path))
        if known is None:
            known = (needs_json(method, path), self.policy.body_limit(path))
            if len(self._paths) < _CACHE_SIZE:
                self._paths[method, path] = known
        return known

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused, streamed = self._check(scope)
        if refused is not None:
            await refuse(send, scope.get("path", ""), *refused)
            return
        if not streamed:
            await self.app(scope, receive, send)
            return
        limit = self.policy.body_limit(scope.get("path", ""))
        state = {"received": 0, "over": False, "started": False}

        async def bounded_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["over"] = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if state["over"]:
                return  # the app's reaction to the cut-off body; the 413 below replaces it
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await refuse(
                send,
                scope.get("path", ""),
                413,
                "request-too-large",
                f"request body is over {limit} bytes; the limit is {limit}",
            )


def gateway_policy(settings: Any) -> GuardPolicy:
    """The policy of a gateway's :class:`processor.settings.GatewaySettings`."""
    from processor.gateway.aws_rules import request_body_limit

    return policy_for(settings, request_body_limit(settings.max_batch_bytes))


def install_guard(app: Any, settings: Any) -> GuardMiddleware:
    """Add the guard to a gateway app (inside the timing middleware, so refusals are timed).

    ``settings`` is the app's :class:`processor.settings.GatewaySettings`. Returns a guard
    with the same policy for the app's hot path (:mod:`processor.gateway.fastpath`), which
    calls its checks directly.
    """
    warning = exposure_warning(settings)
    if warning is not None:
        logger.warning(warning)
    policy = gateway_policy(settings)
    app.add_middleware(GuardMiddleware, policy=policy)
    return GuardMiddleware(_no_app, policy)


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("the hot path's guard only checks requests; it never forwards them")
