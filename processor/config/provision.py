"""The Kafka topics a configuration needs, created idempotently by ``kbridge apply``.

Per bus: the ingress topic ``kbridge.bus.<bus>`` (the bus's partitions, ``retention.ms``
from its archive window) and its dead-letter topic. Per target: the egress topic
``kbridge.target.<t>`` and the dead-letter topic ``kbridge.dlq.<t>``. Existing topics keep
their partition count; a changed bus retention is applied to the existing ingress topic.
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException

# confluent-kafka's stubs do not re-export these public names.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
)

from processor.config.model import KbridgeConfig
from processor.errors import RetriableError
from processor.kafka.admin import TopicSpec, admin_client, ensure_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.topics import (
    RULES_TOPIC,
    bus_dlq_topic,
    bus_topic,
    target_dlq_topic,
    target_topic,
)

log = logging.getLogger(__name__)

KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1048588
_RECORD_OVERHEAD = 64 * 1024
"""Room for CloudEvents headers and batch framing above the event size limit."""


def rules_topic_spec(replication_factor: int | None = None, topic: str = RULES_TOPIC) -> TopicSpec:
    """The compacted config topic: one partition, so every reader sees one total order."""
    spec = TopicSpec.compacted(topic, partitions=1)
    return TopicSpec(spec.name, spec.partitions, replication_factor, spec.config)


def topic_specs(config: KbridgeConfig, replication_factor: int | None = None) -> list[TopicSpec]:
    """Every bus and target topic ``config`` needs."""
    specs: list[TopicSpec] = []
    for bus in config.buses:
        topic_config = {"retention.ms": str(bus.retention_ms)}
        if bus.max_event_bytes + _RECORD_OVERHEAD > KAFKA_DEFAULT_MAX_MESSAGE_BYTES:
            topic_config["max.message.bytes"] = str(bus.max_event_bytes + _RECORD_OVERHEAD)
        specs.append(
            TopicSpec(bus_topic(bus.name), bus.partitions, replication_factor, topic_config)
        )
        specs.append(TopicSpec(bus_dlq_topic(bus.name), bus.partitions, replication_factor))
    for target in config.targets:
        specs.append(TopicSpec(target_topic(target.name), target.partitions, replication_factor))
        specs.append(
            TopicSpec(target_dlq_topic(target.name), target.partitions, replication_factor)
        )
    return specs


def ensure_config_topics(
    kafka: KafkaClientConfig,
    config: KbridgeConfig,
    *,
    replication_factor: int | None = None,
    timeout: float = 30.0,
) -> list[str]:
    """Create the missing bus and target topics and sync bus retention; returns names created."""
    specs = topic_specs(config, replication_factor)
    created = ensure_topics(kafka, specs, timeout=timeout)
    existing_buses = [
        spec for spec in specs if spec.name not in created and "retention.ms" in spec.config
    ]
    if existing_buses:
        _sync_topic_configs(kafka, existing_buses, timeout)
    return created


def _sync_topic_configs(kafka: KafkaClientConfig, specs: list[TopicSpec], timeout: float) -> None:
    """Set each spec's topic configs on existing topics (incremental: other keys untouched)."""
    resources = [
        ConfigResource(
            ConfigResource.Type.TOPIC,
            spec.name,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in spec.config.items()
            ],
        )
        for spec in specs
    ]
    admin = admin_client(kafka)  # keep the handle alive until every future resolved
    futures = admin.incremental_alter_configs(resources, request_timeout=timeout)
    for resource, future in futures.items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            raise RetriableError(
                f"could not update the configuration of topic {resource.name}: {exc.args[0]}"
            ) from exc
