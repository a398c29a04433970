"""The HTTP clients of one sink: pooled, SSRF-guarded, address-pinned, redirect-free.

The IM robots, OAuth token fetches and tests' mock transports send through
:class:`HttpClients` (webhook and HTTP function deliveries use the leaner
:mod:`processor.sinks.http.wire` instead: issue 14): ``httpx.AsyncClient`` shards over
the guarded transport (:func:`~processor.sinks.http.ssrf.guarded_transport`), handed out
round-robin. httpcore's
pool scans every connection on each request event, which makes one pool of 32 connections
several times slower than 8 pools of 4 (bench/sinks.py), hence the shards. Redirects are
never followed: a redirect could lead to an unvetted host.

``transport`` replaces the network (tests use ``httpx.MockTransport``); it bypasses the
guard, which lives in the network backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import httpx

from processor.sinks.http.ssrf import guarded_transport

CONNECTIONS_PER_CLIENT = 4


class HttpClients:
    """Round-robin ``httpx.AsyncClient`` shards for ``concurrency`` requests in flight."""

    def __init__(
        self,
        *,
        timeout: float,
        allow_private_network: bool,
        concurrency: int = 1,
        headers: Mapping[str, str] | None = None,
        private_hosts: Iterable[str] = (),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.allow_private_network = allow_private_network
        self.concurrency = max(1, concurrency)
        self.headers = dict(headers or {})
        self.private_hosts = tuple(private_hosts)
        self._transport = transport
        self._clients: list[httpx.AsyncClient] = []
        self._next = 0

    @property
    def is_open(self) -> bool:
        """Whether :meth:`open` ran and :meth:`close` did not."""
        return bool(self._clients)

    def open(self) -> None:
        """Build the clients (no network traffic: connections open on first use)."""
        if self._clients:
            return
        shards = -(-self.concurrency // CONNECTIONS_PER_CLIENT)
        per_client = -(-self.concurrency // shards)
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        self._clients = [
            httpx.AsyncClient(
                timeout=self.timeout,
                follow_redirects=False,
                headers=self.headers,
                transport=self._transport
                or guarded_transport(
                    allow_private_network=self.allow_private_network,
                    limits=limits,
                    private_hosts=self.private_hosts,
                ),
            )
            for _ in range(shards)
        ]

    @property
    def first(self) -> httpx.AsyncClient:
        """One client for side requests (OAuth token fetches)."""
        self.open()
        return self._clients[0]

    def next(self) -> httpx.AsyncClient:
        """The client for the next request (round-robin over the shards)."""
        self.open()
        self._next = (self._next + 1) % len(self._clients)
        return self._clients[self._next]

    async def close(self) -> None:
        """Close every client and its connections."""
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()
