"""NATS source (nats-py): a JetStream durable pull consumer, or a plain core subscription.

With ``stream`` set (the at-least-once mode): a durable pull consumer named ``durable``
(default ``kbridge-<source name>``) on ``stream``, filtered by ``subject``; each message is
acknowledged only after Kafka acknowledged its event, in delivery order. Messages not
acknowledged within ``ACK_WAIT`` (a crash, a lost connection) are redelivered by the server.
If the stream does not exist yet it is created for ``subject`` (file storage).

Without ``stream``: a core NATS subscription, which has no acknowledgements at all, so
messages published while kbridge is down are lost; use JetStream for anything that matters.

Mapping: ``id`` ``<stream>:<stream sequence>`` (stable across redeliveries, so downstream
upserts deduplicate), ``source`` ``nats://host:port``, ``subject`` the NATS subject (also the
Kafka key), ``type`` ``nats.message``, ``time`` the JetStream timestamp, content type from a
``Content-Type`` header when present.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import NotFoundError

from processor.events import CloudEvent
from processor.sources.base import AckWindow, Publisher, Source, register_source
from processor.sources.payload import payload_event

log = logging.getLogger(__name__)

EVENT_TYPE = "nats.message"
ACK_WAIT = 15.0
FETCH_BATCH = 100
FETCH_EXPIRES = 1.0
NAK_DELAY = FETCH_EXPIRES + 0.5
"""A refused message is redelivered after this delay, once the pull request of the session
that refused it has expired: redelivered sooner, it would land in that dying request and wait
for ``ACK_WAIT``."""


@register_source
class NatsSource(Source):
    """Publish every message of ``config.subject`` (via JetStream when ``stream`` is set)."""

    kind = "nats"

    def __init__(self, config: Any, publisher: Publisher, **kwargs: Any) -> None:
        super().__init__(config, publisher, **kwargs)
        url = urlsplit(config.url)
        self.origin = f"nats://{url.hostname}:{url.port or 4222}"
        self.durable: str = config.durable or f"kbridge-{self.name}"

    async def session(self) -> None:
        await self.vet_url(self.config.url, 4222, "NATS server")
        client = await nats.connect(
            self.config.url, allow_reconnect=False, connect_timeout=5, name=f"kbridge-{self.name}"
        )
        try:
            window = AckWindow(limit=FETCH_BATCH * 2)
            if self.config.stream:
                consume = self._consume_jetstream(client, window)
            else:
                consume = self._consume_core(client, window)
            await self.pump(consume, window)
        finally:
            if not client.is_closed:
                await client.close()

    async def _consume_jetstream(self, client: NatsClient, window: AckWindow) -> None:
        js = client.jetstream()
        stream: str = self.config.stream
        try:
            await js.stream_info(stream)
        except NotFoundError:
            await js.add_stream(name=stream, subjects=[self.config.subject])
            log.info("created JetStream stream", extra={"source": self.name, "stream": stream})
        subscription = await js.pull_subscribe(
            self.config.subject,
            durable=self.durable,
            stream=stream,
            config=api.ConsumerConfig(
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=ACK_WAIT,
                max_ack_pending=FETCH_BATCH * 10,
            ),
        )
        self.backoff.reset()
        log.info(
            "nats source connected",
            extra={"source": self.name, "broker": self.origin, "stream": stream},
        )
        while True:
            window.raise_failure()
            if client.is_closed:
                raise ConnectionError("NATS connection closed")
            try:
                messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_EXPIRES)
            except NatsTimeout:
                continue
            for message in messages:
                await window.submit(
                    self._forward(message),
                    message.ack,
                    functools.partial(message.nak, delay=NAK_DELAY),
                )

    async def _consume_core(self, client: NatsClient, window: AckWindow) -> None:
        queue: asyncio.Queue[Msg] = asyncio.Queue(maxsize=FETCH_BATCH * 10)
        await client.subscribe(self.config.subject, cb=queue.put)
        self.backoff.reset()
        while True:
            message = await queue.get()
            await window.submit(self._forward(message), lambda: None)

    async def _forward(self, message: Msg) -> Any:
        return await self.forward(
            functools.partial(self._event, message),
            message.data,
            key=message.subject.encode(),
            headers=[("nats-subject", message.subject)],
        )

    def _event(self, message: Msg) -> CloudEvent:
        headers = message.headers or {}
        content_type = headers.get("Content-Type") or headers.get("content-type")
        event_id = time = None
        if message.reply and message.reply.startswith("$JS.ACK."):
            meta = message.metadata
            event_id = f"{meta.stream}:{meta.sequence.stream}"
            time = meta.timestamp
        return payload_event(
            message.data,
            source=self.origin,
            type=EVENT_TYPE,
            subject=message.subject,
            id=event_id,
            time=time,
            content_type=content_type,
        )
