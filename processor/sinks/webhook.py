"""``kind: webhook``: deliver each event as one HTTP request (EventBridge API destinations).

Requests go out concurrently (``concurrency`` per sink) through the lean, guarded,
address-pinned HTTP/1.1 pool of :mod:`processor.sinks.http.wire` (httpx cost ~3x the CPU
per delivery, issue 14; OAuth token fetches and tests' mock ``transport`` still use the
httpx clients of :mod:`processor.sinks.http.client`), each after a slot from the
destination's rate limiter (:mod:`processor.sinks.http.ratelimit`); only 2xx counts as
delivered, and every other outcome is mapped to retry-or-dead-letter by
:mod:`processor.sinks.http.status`. A destination the SSRF guard refuses fails its items
with the non-retriable ``ssrf-refused`` (dead-lettered, never retried forever). A 401 with a
connection configured refreshes the credentials and tries once more before failing the item,
which is how OAuth tokens revoked before their expiry recover without a dead letter. Every
request carries ``X-Kbridge-Event-Id`` so receivers can deduplicate the at-least-once
redeliveries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from processor.clock import SYSTEM_CLOCK
from processor.errors import ConfigError
from processor.sinks.base import Delivery, DeliveryOutcome, Sink, SinkContext, register_sink
from processor.sinks.http import signing
from processor.sinks.http.auth import Authenticator, NoAuth, authenticator, private_token_hosts
from processor.sinks.http.binding import BodyMode, encode
from processor.sinks.http.client import HttpClients
from processor.sinks.http.ratelimit import RateLimiter, destination, limiter_for, windows_for_rate
from processor.sinks.http.ssrf import check_url
from processor.sinks.http.status import Answer, outcome, transport_error
from processor.sinks.http.wire import OWN_HEADERS, WirePool

log = logging.getLogger(__name__)

EVENT_ID_HEADER = "X-Kbridge-Event-Id"
USER_AGENT = "kbridge-webhook/1"


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if getter else value)


class WebhookSink(Sink):
    """POSTs (or ``method``) each delivery to ``url``."""

    def __init__(
        self,
        url: str,
        *,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        body: BodyMode = "binary",
        timeout: float = 5.0,
        connection: Any = None,
        secret: str | None = None,
        rate_limit: float | None = None,
        allow_private_network: bool = False,
        concurrency: int = 8,
        max_batch_size: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.method = method.upper()
        self.static_headers = dict(headers or {})
        self.body: BodyMode = body
        self.timeout = timeout
        self.connection = connection
        self.secret = secret
        self.allow_private_network = allow_private_network
        self.concurrency = max(1, concurrency)
        self.max_batch_size = max_batch_size
        self._who = urlsplit(url).hostname or "destination"
        self._limiter: RateLimiter | None = (
            limiter_for(destination(url), windows_for_rate(rate_limit), SYSTEM_CLOCK)
            if rate_limit
            else None
        )
        self._http = HttpClients(
            timeout=timeout,
            allow_private_network=allow_private_network,
            concurrency=self.concurrency,
            headers={"User-Agent": USER_AGENT},
            private_hosts=private_token_hosts(connection),
            transport=transport,
        )
        # the hot path; ``transport`` (tests' mock networks) keeps every request on httpx
        self._wire: WirePool | None = None
        # a configured Host or framing header is httpx's to honour (rare: a virtual host)
        own = any(name.lower() in OWN_HEADERS for name in self.static_headers)
        if transport is None and not own:
            self._wire = WirePool(
                timeout=timeout,
                allow_private_network=allow_private_network,
                max_connections=self.concurrency,
                private_hosts=private_token_hosts(connection),
                headers={"User-Agent": USER_AGENT},
            )
        self._auth: Authenticator = NoAuth()
        self._semaphore = asyncio.Semaphore(self.concurrency)
        self._has_on_success = type(self).on_success is not WebhookSink.on_success

    async def setup(self) -> None:
        # The scheme is checked here; addresses are vetted per connection by the transport,
        # so a refused destination fails its items (dead letters), not the sink's setup.
        await check_url(self.url, allow_private_network=True)
        self._http.open()
        if self._wire is not None:
            self._wire.open()
        self._auth = authenticator(self.connection, self._http.first)

    async def close(self) -> None:
        await self._http.close()
        if self._wire is not None:
            await self._wire.close()

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[DeliveryOutcome]:
        if not self._http.is_open:
            await self.setup()
        if len(batch) == 1:
            return [await self._deliver_one(batch[0])]
        # ``concurrency`` lanes working through the batch rather than a task per item:
        # the same requests in flight for a fraction of the scheduling cost
        outcomes: list[DeliveryOutcome] = [None] * len(batch)
        todo = iter(enumerate(batch))

        async def lane() -> None:
            for index, item in todo:
                outcomes[index] = await self._deliver_one(item)

        await asyncio.gather(*(lane() for _ in range(min(self.concurrency, len(batch)))))
        return outcomes

    async def _deliver_one(self, item: Delivery) -> DeliveryOutcome:
        async with self._semaphore:
            try:
                if self._limiter is not None:
                    await self._limiter.acquire()
                used = await self._auth.headers()
                response = await self._request(item, used)
                if response.status_code == 401 and not isinstance(self._auth, NoAuth):
                    self._auth.invalidate(used)
                    response = await self._request(item, await self._auth.headers())
            except httpx.HTTPError as exc:
                error: BaseException | None = transport_error(exc, self._who)
            except Exception as exc:  # reported per item; the worker decides what to do
                error = exc
            else:
                error = outcome(response, who=self._who)
                if error is None and self._has_on_success:
                    error = await self.on_success(item, response)
            if error is not None:
                log.debug(
                    "webhook delivery of %s failed: %s",
                    item.where(),
                    error,
                    extra={"where": item.where(), "event_id": item.event_id},
                )
            return error

    async def on_success(self, item: Delivery, response: Answer) -> DeliveryOutcome:
        """Hook for subclasses that use the response (function results); ``None`` = done."""
        return None

    def request_parts(
        self, item: Delivery, auth: Mapping[str, str], now: float
    ) -> tuple[dict[str, str], bytes]:
        """The HTTP headers and body sent for ``item`` (pure; ``kbridge route`` shows them)."""
        binding_headers, payload = encode(item, self.body)
        headers = {**self.static_headers, **binding_headers}
        if item.event_id:
            headers[EVENT_ID_HEADER] = item.event_id
        headers.update(auth)
        if self.secret:
            headers[signing.HEADER] = signing.sign(self.secret, payload, int(now))
        return headers, payload

    async def _request(self, item: Delivery, auth: Mapping[str, str]) -> Answer:
        headers, payload = self.request_parts(item, auth, time.time())
        if self._wire is not None:
            return await self._wire.request(self.method, self.url, headers, payload)
        client = self._http.next()
        return await client.request(self.method, self.url, content=payload, headers=headers)


@register_sink("webhook")
def build_webhook(target: Any, context: SinkContext | None = None) -> WebhookSink:
    """Build from a ``kind: webhook`` target model, resolving its connection by name."""
    connection = None
    name = getattr(target, "connection", None)
    if name:
        connections = context.connections if context else {}
        if name not in connections:
            raise ConfigError(f"target {target.name!r}: unknown connection {name!r}")
        connection = connections[name]
    rate = getattr(target, "rate_limit", None)
    return WebhookSink(
        target.url,
        method=getattr(target, "method", "POST"),
        headers=getattr(target, "headers", None),
        body=getattr(target, "body", "binary"),
        timeout=float(getattr(target, "timeout", 5.0)),
        connection=connection,
        secret=_secret(getattr(target, "secret", None)),
        rate_limit=float(rate) if rate else None,
        allow_private_network=bool(getattr(target, "allow_private_network", False)),
        concurrency=int(getattr(target, "concurrency", 8)),
        max_batch_size=int(getattr(target, "batch_size", 100) or 100),
    )
