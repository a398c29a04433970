"""A lean HTTP/1.1 keep-alive client for the webhook hot path: asyncio protocol + httptools.

Why not httpx here: one webhook delivery through ``httpx.AsyncClient`` cost ~1 ms of CPU,
60-80 % of the sink process's profile in httpx/httpcore/anyio (request and response models,
header normalisation, the pool's per-request scan, anyio's cancel scopes; issue 14). This
module does only what a webhook POST needs: one request at a time per pooled connection,
the request written as one pre-built byte string, the response parsed by httptools (the C
llhttp parser uvicorn already brings; it de-chunks ``Transfer-Encoding: chunked`` bodies),
every wait bounded by a loop timer instead of a task or cancel scope.

What it keeps from the httpx path, on purpose:

- **SSRF guard, address pinning**: every *new* connection resolves its host once with
  :func:`processor.netguard.checked_addresses` and connects to exactly the vetted address
  (:class:`~processor.netguard.SsrfRefused` otherwise); TLS still verifies the host name
  (``server_hostname``) with the same default context httpx builds.
- **No redirects**: a 3xx is returned as it is (the status table makes it permanent).
- **Timeouts**: waiting for a pool slot, connecting (DNS, TCP, TLS) and the exchange (write
  the request, read the whole response) are each bounded by ``timeout``.
- **Pooling**: at most ``max_connections`` per origin; idle connections are reused (LIFO)
  until ``keepalive_expiry`` seconds idle; ``Connection: close`` and read-until-EOF
  responses close theirs. A reused connection the server closed before answering is
  retried once on a fresh one (the request may have been seen twice: at least once).
- **Errors as httpx's**: failures raise the matching ``httpx`` exception types
  (``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``, ``PoolTimeout``,
  ``RemoteProtocolError``, ``LocalProtocolError``), so :func:`~processor.sinks.http.status.
  transport_error` classifies them exactly as before.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import logging
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import httptools
import httpx

from processor.netguard import checked_addresses

log = logging.getLogger(__name__)

KEEPALIVE_EXPIRY = 5.0
"""Seconds an idle connection is kept for reuse (httpx's default)."""
DEFAULT_HEADERS = {"Accept": "*/*"}
OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
"""Header names this client writes itself (``Host``, framing, keep-alive)."""


class WireResponse:
    """The answer to one request: status, raw headers and the whole (de-chunked) body.

    Offers the part of ``httpx.Response`` the sinks read (``status_code``, ``headers``,
    ``content``, ``text``, ``json()``); ``headers`` is built on first use only.
    """

    __slots__ = ("_headers", "content", "host", "raw_headers", "status_code")

    def __init__(
        self, status_code: int, raw_headers: list[tuple[bytes, bytes]], content: bytes, host: str
    ) -> None:
        self.status_code = status_code
        self.raw_headers = raw_headers
        self.content = content
        self.host = host
        self._headers: httpx.Headers | None = None

    @property
    def headers(self) -> httpx.Headers:
        if self._headers is None:
            self._headers = httpx.Headers(self.raw_headers)
        return self._headers

    @property
    def text(self) -> str:
        charset = "utf-8"
        ctype = self.headers.get("content-type", "")
        for param in ctype.split(";")[1:]:
            name, _, value = param.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.content.decode(charset, "replace")
        except LookupError:
            return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON (``ValueError`` when it is not)."""
        return json.loads(self.content)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a URL's requests go, and the request line / ``Host`` header they carry."""

    scheme: str
    host: str
    port: int
    target: str
    host_header: str
    #: ``Authorization`` from credentials in the URL (``https://user:pass@host/``), as httpx
    #: sends them; a header of the request's own wins.
    authorization: str | None = None

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {parts.scheme!r}")
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode("ascii")
        return cls(
            parts.scheme,
            host,
            port,
            target,
            shown if port == default else f"{shown}:{port}",
            authorization,
        )


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one exchange at a time, responses parsed by httptools."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self.used = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[WireResponse] | None = None
        self._host = ""
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._headers_done = False
        self._framed = False  # Content-Length or chunked: the end is known without EOF
        self._got_bytes = False

    # ---- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # bytes nobody asked for: the connection is not reusable
            return
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("unexpected protocol upgrade"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP response ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self._headers_done and not self._framed:  # body delimited by the close
            self._complete()
            return
        if exc is not None:
            self._fail(httpx.ReadError(f"{type(exc).__name__}: {exc}"))
        else:
            self._fail(httpx.RemoteProtocolError("server disconnected without sending a response"))

    # ---- httptools callbacks -------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or (
            lowered == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._headers_done = True
        if self._status in (204, 304):
            self._framed = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
            self._reset()
            self._got_bytes = True
            return
        self._complete()

    # ---- exchange ------------------------------------------------------------------------

    def _complete(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        response = WireResponse(self._status, self._headers, b"".join(self._body), self._host)
        if not self._framed or not self._parser.should_keep_alive():
            self.close()
        waiter.set_result(response)

    def _fail(self, error: Exception) -> None:
        waiter = self._waiter
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _timed_out(self) -> None:
        self._fail(httpx.ReadTimeout("no complete response within the timeout"))

    async def exchange(self, request: bytes, host: str, timeout: float) -> WireResponse:
        """Write ``request`` and wait for its whole response (``timeout`` bounds both)."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._reset()
        self._host = host
        self.used = True
        waiter: asyncio.Future[WireResponse] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(timeout, self._timed_out)
        try:
            self.transport.write(request)
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None
            self.idle_since = time.monotonic()

    @property
    def answered_nothing(self) -> bool:
        """Whether the last exchange failed before any response byte arrived."""
        return not self._got_bytes

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _OriginPool:
    """The connections to one origin: idle ones, how many exist, who waits for one."""

    __slots__ = ("count", "idle", "waiters")

    def __init__(self) -> None:
        self.idle: list[_Connection] = []
        self.count = 0
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()


class WirePool:
    """Pooled, SSRF-guarded HTTP/1.1 client: :meth:`request` sends one request.

    ``private_hosts`` are host names allowed to resolve to private addresses although the
    pool is not (an OAuth token endpoint whose connection allows it), as in
    :class:`~processor.sinks.http.ssrf.GuardedBackend`.
    """

    def __init__(
        self,
        *,
        timeout: float,
        allow_private_network: bool,
        max_connections: int,
        private_hosts: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout = timeout
        self.allow_private_network = allow_private_network
        self.private_hosts = {h.lower() for h in private_hosts}
        self.max_connections = max(1, max_connections)
        self.keepalive_expiry = keepalive_expiry
        self.default_headers = {**DEFAULT_HEADERS, **(headers or {})}
        self._ssl = ssl_context
        self._pools: dict[tuple[str, str, int], _OriginPool] = {}
        self._origins: dict[str, Origin] = {}
        self._closed = False

    # ---- public ----------------------------------------------------------------------------

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> WireResponse:
        """Send one request and return its complete response (no redirects followed)."""
        origin = self._origins.get(url)
        if origin is None:
            origin = self._origins[url] = Origin.of(url)
        data = self._encode(method, origin, headers, body)
        pool = self._pool(origin)
        for attempt in (1, 2):
            conn = await self._acquire(pool, origin)
            reused = conn.used
            try:
                response = await conn.exchange(data, origin.host, self.timeout)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                self._release(pool, conn)
                if attempt == 1 and reused and conn.answered_nothing:
                    continue  # a stale keep-alive connection: once more on a fresh one
                raise
            except BaseException:
                conn.close()
                self._release(pool, conn)
                raise
            self._release(pool, conn)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def open(self) -> None:
        """Accept requests again after :meth:`close` (a sink set up anew)."""
        self._closed = False

    async def close(self) -> None:
        """Close every idle connection (busy ones close when released); until :meth:`open`,
        requests fail."""
        self._closed = True
        for pool in self._pools.values():
            for conn in pool.idle:
                conn.close()
            pool.idle.clear()

    # ---- request bytes ------------------------------------------------------------------------

    def _encode(
        self, method: str, origin: Origin, headers: Mapping[str, str], body: bytes
    ) -> bytes:
        lines = [f"{method} {origin.target} HTTP/1.1", f"Host: {origin.host_header}"]
        merged = {**self.default_headers, **headers}
        if origin.authorization is not None and "Authorization" not in merged:
            merged["Authorization"] = origin.authorization
        lines += [f"{name}: {value}" for name, value in merged.items()]
        lines.append(f"Content-Length: {len(body)}")
        head = "\r\n".join(lines)
        breaks = len(lines) - 1
        # a CR, LF or NUL inside a name or value would split or smuggle a header (h11 refused
        # them too): every line break must be one of ours
        if head.count("\n") != breaks or head.count("\r") != breaks or "\0" in head:
            raise httpx.LocalProtocolError("illegal character in a request header")
        try:
            return head.encode("ascii") + b"\r\n\r\n" + body
        except UnicodeEncodeError:
            raise httpx.LocalProtocolError("non-ASCII character in a request header") from None

    # ---- pool ---------------------------------------------------------------------------------

    def _pool(self, origin: Origin) -> _OriginPool:
        key = (origin.scheme, origin.host, origin.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _OriginPool()
        return pool

    async def _acquire(self, pool: _OriginPool, origin: Origin) -> _Connection:
        if self._closed:
            raise httpx.ConnectError("the HTTP client is closed")
        now = time.monotonic()
        while pool.idle:
            conn = pool.idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_expiry:
                return conn
            conn.close()
            pool.count -= 1
        if pool.count >= self.max_connections:
            await self._wait_for_slot(pool)
            return await self._acquire(pool, origin)
        pool.count += 1
        try:
            return await self._connect(origin)
        except BaseException:
            pool.count -= 1
            self._wake(pool)
            raise

    async def _wait_for_slot(self, pool: _OriginPool) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        pool.waiters.append(waiter)

        def expire() -> None:
            if not waiter.done():
                waiter.set_exception(httpx.PoolTimeout("no connection free within the timeout"))

        timer = loop.call_later(self.timeout, expire)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._wake(pool)  # woken but not taking the slot: pass it on
            raise
        finally:
            timer.cancel()
            if waiter in pool.waiters:
                pool.waiters.remove(waiter)

    def _release(self, pool: _OriginPool, conn: _Connection) -> None:
        if conn.closed or self._closed:
            conn.close()
            pool.count -= 1
        else:
            pool.idle.append(conn)
        self._wake(pool)

    @staticmethod
    def _wake(pool: _OriginPool) -> None:
        while pool.waiters:
            waiter = pool.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self, origin: Origin) -> _Connection:
        allowed = self.allow_private_network or origin.host.lower() in self.private_hosts
        loop = asyncio.get_running_loop()
        tls = origin.scheme == "https"
        if tls and self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        failure: Exception | None = None
        try:
            async with asyncio.timeout(self.timeout):
                addresses = await checked_addresses(
                    origin.host, origin.port, allow_private_network=allowed, action="call"
                )
                for address in addresses:  # every one vetted: try them in resolver order
                    try:
                        _, protocol = await loop.create_connection(
                            _Connection,
                            address,
                            origin.port,
                            ssl=self._ssl if tls else None,
                            server_hostname=origin.host if tls else None,
                        )
                    except (OSError, ssl.SSLError) as exc:
                        failure = exc
                        continue
                    return protocol
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {origin.host} timed out") from None
        assert failure is not None
        raise httpx.ConnectError(f"{type(failure).__name__}: {failure}") from failure
