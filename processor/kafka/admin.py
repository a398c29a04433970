"""Idempotent topic creation: every process may ensure the topics it needs at start-up."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from processor.errors import RetriableError
from processor.kafka.config import KafkaClientConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    """What a topic should look like; ``replication_factor=None`` uses the broker default."""

    name: str
    partitions: int = 3
    replication_factor: int | None = None
    config: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def compacted(cls, name: str, partitions: int = 1) -> TopicSpec:
        """A compacted config topic (rules store, schedule state): latest value per key wins."""
        return cls(
            name,
            partitions=partitions,
            config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
        )


def admin_client(config: KafkaClientConfig) -> AdminClient:
    """An AdminClient for ``config``."""
    return AdminClient(config.librdkafka())


def ensure_topics(
    config: KafkaClientConfig, specs: Iterable[TopicSpec], timeout: float = 30.0
) -> list[str]:
    """Create the missing topics among ``specs``; returns the names created now.

    Existing topics are left as they are (their partition count is not changed), so calling
    this from every process at start-up is safe.
    """
    admin = admin_client(config)
    wanted = {spec.name: spec for spec in specs}
    if not wanted:
        return []
    existing = set(admin.list_topics(timeout=timeout).topics)
    new = [
        NewTopic(
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=spec.replication_factor or -1,
            config=dict(spec.config),
        )
        for name, spec in wanted.items()
        if name not in existing
    ]
    if not new:
        return []
    created: list[str] = []
    for name, future in admin.create_topics(new, operation_timeout=timeout).items():
        try:
            future.result(timeout)
            created.append(name)
            log.info("created topic", extra={"topic": name})
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise RetriableError(f"could not create topic {name}: {err.str()}") from exc
    return created


def delete_topics(config: KafkaClientConfig, names: Iterable[str], timeout: float = 30.0) -> None:
    """Delete topics (tests and `kbridge dev reset`); missing topics are ignored."""
    admin = admin_client(config)
    for _name, future in admin.delete_topics(list(names), operation_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
