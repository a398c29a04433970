"""MQTT source (aiomqtt): topic filters in, one CloudEvent per message out.

At-least-once needs three things from MQTT: QoS 1 subscriptions, a persistent session
(``clean_session=False`` with a stable client id, so the broker keeps unacknowledged and
queued messages while we are away), and manual acknowledgement: the PUBACK is sent only after
Kafka acknowledged the event. aiomqtt does not expose paho's manual-ack switch, so we set it
on the wrapped paho client before connecting.

Mapping: ``source`` is the broker (``mqtt://host:port``, never credentials), ``subject`` the
message's topic (also the Kafka key, so one MQTT topic keeps its order on one partition),
``type`` ``mqtt.message``; the payload is JSON data when it parses, else bytes.

Scaling: one process per source keeps MQTT's per-topic order. To split a high-volume source
over several processes, subscribe with MQTT 5 / mosquitto shared subscriptions
(``$share/<group>/<filter>``): each process then gets its own client id and the broker hands
each message to one of them.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt

from processor.errors import FatalError
from processor.sources.base import AckWindow, Publisher, Source, register_source
from processor.sources.payload import payload_event

log = logging.getLogger(__name__)

EVENT_TYPE = "mqtt.message"


@register_source
class MqttSource(Source):
    """Subscribe to ``config.topics`` and publish every message to the bus."""

    kind = "mqtt"

    def __init__(self, config: Any, publisher: Publisher, **kwargs: Any) -> None:
        super().__init__(config, publisher, **kwargs)
        url = urlsplit(config.url)
        if url.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise FatalError(f"source {self.name}: MQTT url must be mqtt:// or mqtts://")
        self.tls = url.scheme in ("mqtts", "ssl")
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (8883 if self.tls else 1883)
        self.username = unquote(url.username) if url.username else None
        self.password = unquote(url.password) if url.password else None
        self.filters = [_without_share(f) for f in config.topics]
        shared = any(f.startswith("$share/") for f in config.topics)
        # A stable id keeps the persistent session across restarts; with shared subscriptions
        # several processes split the messages, so each needs its own id.
        default_id = f"kbridge-{self.name}"
        if shared:
            default_id += f"-{socket.gethostname()}-{os.getpid()}"
        self.client_id: str = config.client_id or default_id
        self.origin = f"mqtt://{self.host}:{self.port}"

    async def session(self) -> None:
        await self.vet_url(self.config.url, self.port, "MQTT broker")
        client = aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=self.client_id,
            clean_session=False,
            tls_context=ssl.create_default_context() if self.tls else None,
            keepalive=15,
        )
        # aiomqtt has no public switch for this: PUBACK only after Kafka acknowledged.
        client._client.manual_ack_set(True)
        window = AckWindow(limit=1000)
        async with client:
            for topic in self.config.topics:
                await client.subscribe(topic, qos=self.config.qos)
            self.backoff.reset()
            log.info(
                "mqtt source connected",
                extra={"source": self.name, "broker": self.origin, "topics": self.config.topics},
            )
            await self.pump(self._consume(client, window), window)

    async def _consume(self, client: aiomqtt.Client, window: AckWindow) -> None:
        paho = client._client
        async for message in client.messages:
            topic = message.topic.value

            def ack(mid: int = message.mid, qos: int = message.qos) -> None:
                if qos > 0:
                    paho.ack(mid, qos)

            if not any(message.topic.matches(f) for f in self.filters):
                # A subscription left in our persistent session by an earlier definition of
                # this source: not wanted any more, so acknowledge and drop it.
                log.debug("mqtt message on an unconfigured topic", extra={"topic": topic})
                await window.submit(_done(), ack)
                continue
            payload = message.payload
            if isinstance(payload, str):
                payload = payload.encode()
            elif not isinstance(payload, bytes | bytearray):
                payload = b"" if payload is None else str(payload).encode()
            raw = bytes(payload)

            def build(raw: bytes = raw, topic: str = topic) -> Any:
                return payload_event(raw, source=self.origin, type=EVENT_TYPE, subject=topic)

            await window.submit(
                self.forward(build, raw, key=topic.encode(), headers=[("mqtt-topic", topic)]),
                ack,
            )


async def _done() -> None:
    """A publish that has nothing to do (keeps the ack in order behind earlier ones)."""


def _without_share(topic_filter: str) -> str:
    """``$share/<group>/<filter>`` -> ``<filter>`` (what delivered topics are matched against)."""
    if topic_filter.startswith("$share/"):
        parts = topic_filter.split("/", 2)
        return parts[2] if len(parts) == 3 else topic_filter
    return topic_filter
