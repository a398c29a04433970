"""``kind: kafka``: forward events to a Kafka topic, on this cluster or another one.

Records keep their key, value and headers (the CloudEvent stays in Kafka binary mode), so a
consumer of the destination sees exactly what the target's egress topic holds. With
``cluster`` set, the sink has its own idempotent producer configured for that cluster;
otherwise it shares the worker's. Each item's outcome is Kafka's acknowledgement.

A ``cluster`` written in the target is a destination like any other: it passes the SSRF
guard (:mod:`processor.netguard`) unless the target sets ``allow_private_network``. The
bootstrap servers are vetted before the producer exists, and the brokers the cluster
advertises (where librdkafka will actually connect) before the first record is produced.
librdkafka resolves names itself, so Kafka addresses are vetted, not pinned. A refused
cluster fails the records (non-retriable ``ssrf-refused``: dead letters), never the setup.
The worker's own cluster (no ``cluster``) is kbridge's infrastructure and is not guarded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from processor.errors import ConfigError, KbridgeError, RetriableError
from processor.kafka.config import KafkaClientConfig
from processor.kafka.producer import Producer
from processor.netguard import check_host, check_servers
from processor.sinks.base import Delivery, DeliveryOutcome, Sink, SinkContext, register_sink

log = logging.getLogger(__name__)

KAFKA_PORT = 9092
METADATA_TIMEOUT = 10.0


class KafkaSink(Sink):
    """Produces every delivery to ``topic`` and waits for the acknowledgements."""

    def __init__(
        self,
        topic: str,
        *,
        cluster: KafkaClientConfig | None = None,
        default_cluster: KafkaClientConfig | None = None,
        max_batch_size: int = 500,
        guard: bool = False,
    ) -> None:
        config = cluster or default_cluster
        if config is None:
            raise ConfigError("kafka sink needs a cluster configuration")
        self.topic = topic
        self.config = config
        self.max_batch_size = max_batch_size
        self.guard = guard
        """Vet the cluster's addresses (a ``cluster`` from the target, private not allowed)."""
        self._producer: Producer | None = None

    async def setup(self) -> None:
        try:
            await self._open()
        except KbridgeError as exc:  # deliver() reports it per record (refused: dead letters)
            log.warning("kafka target cluster not usable at setup: %s", exc)

    async def _open(self) -> None:
        if self._producer is not None:
            return
        action = "connect to Kafka broker"
        if self.guard:
            await check_servers(
                self.config.bootstrap_servers,
                default_port=KAFKA_PORT,
                allow_private_network=False,
                action=action,
            )
        producer = Producer(self.config)
        if self.guard:
            try:
                for host, port in await asyncio.to_thread(_advertised_brokers, producer):
                    await check_host(host, port, allow_private_network=False, action=action)
            except BaseException:
                await asyncio.to_thread(producer.close)
                raise
        self._producer = producer

    async def close(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await asyncio.to_thread(producer.close)

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[DeliveryOutcome]:
        try:
            await self._open()
        except KbridgeError as exc:
            return [exc] * len(batch)
        assert self._producer is not None
        results = await asyncio.gather(
            *(
                self._producer.send(
                    self.topic,
                    item.value,
                    key=item.key,
                    headers=list(item.raw_headers)
                    or [(k, v.encode("utf-8")) for k, v in item.headers.items()],
                )
                for item in batch
            ),
            return_exceptions=True,
        )
        return [r if isinstance(r, BaseException) else None for r in results]


def _advertised_brokers(producer: Producer) -> list[tuple[str, int]]:
    """The ``(host, port)`` of every broker the cluster advertises (blocking metadata call)."""
    try:
        metadata = producer.raw.list_topics(timeout=METADATA_TIMEOUT)
    except Exception as exc:  # KafkaException: cluster unreachable, retry later
        raise RetriableError(
            f"kafka target cluster metadata: {exc}", code="kafka-metadata"
        ) from exc
    return [(broker.host, broker.port) for broker in metadata.brokers.values()]


@register_sink("kafka")
def build_kafka(target: Any, context: SinkContext | None = None) -> KafkaSink:
    """Build from a ``kind: kafka`` target model (``cluster`` is a client config or None)."""
    cluster = getattr(target, "cluster", None)
    guard = cluster is not None and not getattr(target, "allow_private_network", False)
    if isinstance(cluster, str):  # a named cluster from the worker's cluster table
        clusters = context.clusters if context else {}
        if cluster not in clusters:
            raise ConfigError(f"target {target.name!r}: unknown Kafka cluster {cluster!r}")
        cluster = clusters[cluster]
        guard = False  # the worker's cluster table: operator settings, not configuration
    return KafkaSink(
        target.topic,
        cluster=cluster,
        default_cluster=context.kafka if context else None,
        guard=guard,
    )
