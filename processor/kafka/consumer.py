"""Consumer factory: manual commits, so offsets move only after work was acknowledged."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer

from processor.kafka.config import KafkaClientConfig, quiet_repeats

DEFAULTS: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    "fetch.max.bytes": 4 * 1024 * 1024,
    "max.partition.fetch.bytes": 4 * 1024 * 1024,
    "session.timeout.ms": 10_000,
    "heartbeat.interval.ms": 1_000,
    "isolation.level": "read_committed",
    "partition.assignment.strategy": "cooperative-sticky",
}


def make_consumer(config: KafkaClientConfig, group_id: str, **overrides: Any) -> Consumer:
    """A consumer in ``group_id`` with auto-commit off and read_committed isolation."""
    conf = {**DEFAULTS, **config.librdkafka(), "group.id": group_id, **overrides}
    if isinstance(conf["logger"], logging.Logger):  # librdkafka's lines under the caller's name
        quiet_repeats(conf["logger"])
    return Consumer(conf)
