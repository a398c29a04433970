"""``kind: kafka``: forward events to a Kafka topic, on this cluster or another one.

Records keep their key, value and headers (the CloudEvent stays in Kafka binary mode), so a
consumer of the destination sees exactly what the target's egress topic holds. With
``cluster`` set, the sink has its own idempotent producer configured for that cluster;
otherwise it shares the worker's. Each item's outcome is Kafka's acknowledgement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from processor.errors import ConfigError
from processor.kafka.config import KafkaClientConfig
from processor.kafka.producer import Producer
from processor.sinks.base import Delivery, DeliveryOutcome, Sink, SinkContext, register_sink


class KafkaSink(Sink):
    """Produces every delivery to ``topic`` and waits for the acknowledgements."""

    def __init__(
        self,
        topic: str,
        *,
        cluster: KafkaClientConfig | None = None,
        default_cluster: KafkaClientConfig | None = None,
        max_batch_size: int = 500,
    ) -> None:
        config = cluster or default_cluster
        if config is None:
            raise ConfigError("kafka sink needs a cluster configuration")
        self.topic = topic
        self.config = config
        self.max_batch_size = max_batch_size
        self._producer: Producer | None = None

    async def setup(self) -> None:
        if self._producer is None:
            self._producer = Producer(self.config)

    async def close(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await asyncio.to_thread(producer.close)

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[DeliveryOutcome]:
        if self._producer is None:
            await self.setup()
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


@register_sink("kafka")
def build_kafka(target: Any, context: SinkContext | None = None) -> KafkaSink:
    """Build from a ``kind: kafka`` target model (``cluster`` is a client config or None)."""
    cluster = getattr(target, "cluster", None)
    if isinstance(cluster, str):  # a named cluster from the worker's cluster table
        clusters = context.clusters if context else {}
        if cluster not in clusters:
            raise ConfigError(f"target {target.name!r}: unknown Kafka cluster {cluster!r}")
        cluster = clusters[cluster]
    return KafkaSink(
        target.topic,
        cluster=cluster,
        default_cluster=context.kafka if context else None,
    )
