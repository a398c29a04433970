"""The SSRF guard inside the HTTP stack: every new connection connects to a vetted address.

:func:`guarded_transport` builds the httpx transport of the HTTP sinks that use httpx (IM
robots, OAuth token fetches; :mod:`processor.sinks.http.wire`, the webhook client, vets and
pins its connections the same way). Its network backend
resolves the host of each *new* connection once with :func:`processor.netguard.checked_addresses`
(refusing private, loopback, link-local and metadata addresses unless the target allows
them) and connects to exactly the address it vetted, while TLS still verifies the host
name. A DNS answer that changes between the check and the connection (rebinding) therefore
cannot redirect a request, and a host whose DNS turns private is refused at its next
connection. Redirects are never followed (clients are built with ``follow_redirects=False``).

:func:`check_url` is the scheme-and-host check without connecting (configuration, OAuth token
endpoints before their first request).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from processor.netguard import SsrfRefused, check_host, checked_addresses, is_public, resolve

__all__ = [
    "GuardedBackend",
    "SsrfRefused",
    "check_host",
    "check_url",
    "guarded_transport",
    "is_public",
    "resolve",
]


async def check_url(url: str, *, allow_private_network: bool) -> None:
    """Raise :class:`SsrfRefused` unless ``url`` is HTTP(S) and only reaches public addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SsrfRefused(f"refusing non-HTTP URL {parts.scheme}://{parts.hostname}")
    if allow_private_network:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    await check_host(parts.hostname, port, allow_private_network=False, action="call")


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that vets and pins the address of every TCP connection.

    ``private_hosts`` are host names allowed to be private even when the target is not
    (an OAuth token endpoint whose connection sets ``allow_private_network``).
    """

    def __init__(
        self,
        *,
        allow_private_network: bool,
        private_hosts: Iterable[str] = (),
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private_network = allow_private_network
        self.private_hosts = {h.lower() for h in private_hosts}
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        allowed = self.allow_private_network or host.lower() in self.private_hosts
        addresses = await checked_addresses(
            host, port, allow_private_network=allowed, action="call"
        )
        failure: Exception | None = None
        for address in addresses:  # every one vetted: try them in resolver order
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise SsrfRefused("refusing to connect to a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose backend is a :class:`GuardedBackend`."""

    def __init__(self, backend: GuardedBackend, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx offers no network_backend parameter; its pool is rebuilt with ours, using
        # the same settings httpx would (default TLS context, its limits, HTTP/1.1).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def guarded_transport(
    *,
    allow_private_network: bool,
    limits: httpx.Limits | None = None,
    private_hosts: Iterable[str] = (),
) -> httpx.AsyncBaseTransport:
    """The transport every HTTP sink sends through (SSRF-vetted, address-pinned)."""
    backend = GuardedBackend(
        allow_private_network=allow_private_network, private_hosts=private_hosts
    )
    return _GuardedTransport(backend, limits=limits or httpx.Limits())
