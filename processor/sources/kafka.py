"""Kafka source: consume topics of another cluster (a managed Kafka, a legacy cluster) into a bus.

The source cluster has its own client config (``cluster``). Offsets are committed only for
records whose event Kafka (the bus's cluster) acknowledged: each record's offset is stored
after the ingress ack, in order, and librdkafka's auto-commit commits only stored offsets
(``enable.auto.offset.store=false``); closing the consumer commits the last stored ones.

Records that already are CloudEvents (``ce_specversion`` header, or a structured content
type) are validated and republished unchanged: value, key and every header, so their
``ce_`` attributes (and any extension headers) survive. Invalid ones go to the bus dead-letter
topic. Anything else is wrapped: ``id`` ``<topic>-<partition>-<offset>`` (stable across
redeliveries), ``source`` ``kafka://<first bootstrap server>/<topic>``, ``type``
``kafka.record``, ``subject`` the record key when it is UTF-8 text, ``time`` the record
timestamp, data JSON when it parses else bytes (``content-type`` header honoured); the Kafka
key is kept.

The source cluster passes the SSRF guard (:mod:`processor.netguard`) before each session:
bootstrap servers and advertised brokers must be public unless the source sets
``allow_private_network`` (a refused cluster ends the source with ``ssrf-refused``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, KafkaException, Message

from processor.errors import FatalError, InvalidEventError
from processor.events import decode
from processor.netguard import check_host, check_servers
from processor.sources.base import AckWindow, Publisher, Source, register_source
from processor.sources.payload import payload_event

log = logging.getLogger(__name__)

EVENT_TYPE = "kafka.record"
BATCH = 500
_STRUCTURED = ("application/cloudevents+json", "application/cloudevents+avro")


@register_source
class KafkaSource(Source):
    """Republish records of ``config.topics`` on ``config.cluster`` as CloudEvents."""

    kind = "kafka"

    def __init__(self, config: Any, publisher: Publisher, **kwargs: Any) -> None:
        super().__init__(config, publisher, **kwargs)
        self.group_id: str = config.group_id or f"kbridge-source-{self.name}"
        first = config.cluster.bootstrap_servers.split(",")[0].strip()
        self.origin = f"kafka://{first}"
        self._lock = threading.Lock()  # poll and close never overlap
        self._current: Consumer | None = None
        """The session's consumer, for :meth:`upstream_lag` (``kbridge_source_upstream_lag``)."""

    def _consumer(self) -> Consumer:
        return Consumer(
            self.config.cluster.librdkafka(
                **{
                    "group.id": self.group_id,
                    "enable.auto.commit": True,
                    "enable.auto.offset.store": False,
                    "auto.commit.interval.ms": 1000,
                    "auto.offset.reset": "earliest",
                    "isolation.level": "read_committed",
                    "session.timeout.ms": 10_000,
                    "partition.assignment.strategy": "cooperative-sticky",
                }
            )
        )

    async def _vet(self, consumer: Consumer) -> None:
        """SSRF guard, second half: the brokers the cluster advertises (where librdkafka
        connects after bootstrap) must be public too."""
        if getattr(self.config, "allow_private_network", False):
            return
        metadata = await asyncio.to_thread(consumer.list_topics, timeout=10)
        for broker in metadata.brokers.values():
            await check_host(
                broker.host,
                broker.port,
                allow_private_network=False,
                action="connect to Kafka broker",
            )

    async def session(self) -> None:
        if not getattr(self.config, "allow_private_network", False):
            await check_servers(
                self.config.cluster.bootstrap_servers,
                default_port=9092,
                allow_private_network=False,
                action="connect to Kafka broker",
            )
        consumer = self._current = self._consumer()
        try:
            await self._vet(consumer)
            consumer.subscribe(list(self.config.topics))
            window = AckWindow(limit=BATCH * 2)
            log.info(
                "kafka source subscribed",
                extra={"source": self.name, "cluster": self.origin, "topics": self.config.topics},
            )
            await self.pump(self._consume(consumer, window), window)
        finally:
            await asyncio.to_thread(self._close, consumer)

    def upstream_lag(self) -> int | None:
        """Records on the assigned upstream partitions not read yet; None without a session.

        From the consumer's own position and the high watermarks of its last fetches (no
        broker request, so a scrape costs nothing); partitions not read from yet in this
        session have no position and are not counted.
        """
        consumer = self._current
        if consumer is None:
            return None
        try:
            lag = 0
            for tp in consumer.position(consumer.assignment()):
                _low, high = consumer.get_watermark_offsets(tp, cached=True)
                if tp.offset >= 0 and high >= 0:
                    lag += max(0, high - tp.offset)
            return lag
        except (KafkaException, RuntimeError):  # closed meanwhile: no session
            return None

    def _poll(self, consumer: Consumer) -> list[Message]:
        with self._lock:
            return list(consumer.consume(BATCH, 0.5))

    def _close(self, consumer: Consumer) -> None:
        with self._lock:
            self._current = None
            consumer.close()  # commits the offsets stored so far

    async def _consume(self, consumer: Consumer, window: AckWindow) -> None:
        while True:
            window.raise_failure()
            for message in await asyncio.to_thread(self._poll, consumer):
                error = message.error()
                if error is not None:
                    if error.fatal():
                        raise FatalError(f"source cluster: {error.str()}", code="kafka-fatal")
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning(
                            "source cluster error",
                            extra={"source": self.name, "error": error.str()},
                        )
                    continue
                self.backoff.reset()
                await window.submit(
                    self._forward(message), functools.partial(self._store, consumer, message)
                )

    def _store(self, consumer: Consumer, message: Message) -> None:
        try:
            consumer.store_offsets(message=message)
        except KafkaException as exc:  # partition revoked meanwhile: its new owner re-reads
            log.info(
                "offset not stored",
                extra={"source": self.name, "where": _where(message), "error": str(exc)},
            )

    async def _forward(self, message: Message) -> Any:
        value: bytes | None = message.value()
        key: bytes | None = message.key()
        headers = _headers(message)
        if _is_cloudevent(headers):
            try:
                event = decode(value, headers)
            except InvalidEventError as exc:
                return await self.dead_letter(
                    value, exc, stage="decode", key=key, headers=headers, where=_where(message)
                )
            if key is None:
                key = event.partition_key().encode()
            ack = await self.publisher.send(self.topic, value, key, headers)
            self.published += 1
            return ack
        return await self.forward(
            lambda: self._wrap(message),
            value,
            key=key,
            headers=headers,
            where=_where(message),
        )

    def _wrap(self, message: Message) -> Any:
        key = message.key()
        subject = None
        if key:
            try:
                subject = key.decode("utf-8")
            except UnicodeDecodeError:
                subject = None
        kind, stamp = message.timestamp()
        time = (
            datetime.fromtimestamp(stamp / 1000, UTC) if kind != TIMESTAMP_NOT_AVAILABLE else None
        )
        content_type = None
        for name, raw in _headers(message):
            if name.lower() == "content-type" and raw is not None:
                content_type = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        topic = message.topic()
        return payload_event(
            message.value() or b"",
            source=f"{self.origin}/{topic}",
            type=EVENT_TYPE,
            subject=subject,
            id=f"{topic}-{message.partition()}-{message.offset()}",
            time=time,
            content_type=content_type,
        )


def _is_cloudevent(headers: list[tuple[str, Any]]) -> bool:
    for name, raw in headers:
        lowered = name.lower()
        if lowered == "ce_specversion":
            return True
        if lowered == "content-type" and raw is not None:
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            if text.split(";", 1)[0].strip().lower() in _STRUCTURED:
                return True
    return False


def _headers(message: Message) -> list[tuple[str, Any]]:
    raw: Any = message.headers() or []
    return [(str(name), value) for name, value in raw]


def _where(message: Message) -> str:
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"
