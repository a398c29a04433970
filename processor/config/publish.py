"""Writers of the live configuration: ``kbridge apply`` and the management API.

Applying computes a plan against the live configuration and writes only what changed:
creations and updates in dependency order (buses first, rules last), then tombstones in
reverse order, so readers of ``kbridge.rules`` rarely see a rule before its target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from processor.config.model import KINDS, ConfigObject, KbridgeConfig, ObjectKind
from processor.config.provision import rules_topic_spec
from processor.config.records import encode_object, kind_of, object_key
from processor.config.store import read_live_config
from processor.errors import RetriableError
from processor.kafka.admin import ensure_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.producer import Producer
from processor.kafka.topics import RULES_TOPIC


@dataclass(frozen=True)
class ApplyPlan:
    """What publishing a desired configuration over the live one changes."""

    created: tuple[tuple[ObjectKind, str], ...]
    updated: tuple[tuple[ObjectKind, str], ...]
    unchanged: tuple[tuple[ObjectKind, str], ...]
    deleted: tuple[tuple[ObjectKind, str], ...]
    records: tuple[tuple[str, bytes | None], ...]
    """``(key, value)`` records to publish, in order (``None`` values are tombstones)."""

    @property
    def changed(self) -> bool:
        """Whether publishing would change anything."""
        return bool(self.records)


def plan_apply(desired: KbridgeConfig, live: KbridgeConfig, *, prune: bool = False) -> ApplyPlan:
    """Compare ``desired`` with ``live``: creations and updates in dependency order (buses
    first, rules last), then, with ``prune``, deletions of live objects missing from
    ``desired`` in reverse order (rules first), so readers rarely see dangling references."""
    created: list[tuple[ObjectKind, str]] = []
    updated: list[tuple[ObjectKind, str]] = []
    unchanged: list[tuple[ObjectKind, str]] = []
    deleted: list[tuple[ObjectKind, str]] = []
    records: list[tuple[str, bytes | None]] = []
    for kind, obj in desired.objects():
        current = live.get(kind, obj.name)
        if current == obj:
            unchanged.append((kind, obj.name))
            continue
        (created if current is None else updated).append((kind, obj.name))
        records.append((object_key(kind, obj.name), encode_object(obj)))
    if prune:
        for kind in reversed(KINDS):
            for obj in live.section(kind):
                if desired.get(kind, obj.name) is None:
                    deleted.append((kind, obj.name))
                    records.append((object_key(kind, obj.name), None))
    return ApplyPlan(
        tuple(created), tuple(updated), tuple(unchanged), tuple(deleted), tuple(records)
    )


def publish_records(
    kafka: KafkaClientConfig,
    records: Sequence[tuple[str, bytes | None]],
    *,
    topic: str = RULES_TOPIC,
    timeout: float = 30.0,
    create_topic: bool = True,
    replication_factor: int | None = None,
) -> None:
    """Write ``(key, value)`` records to the config topic and wait for acks=all.

    The compacted topic is created first when missing (unless ``create_topic`` is false).
    Raises the first delivery error (a :class:`~processor.errors.KbridgeError`).
    """
    if not records:
        return
    if create_topic:
        ensure_topics(kafka, [rules_topic_spec(replication_factor, topic)], timeout=timeout)
    producer = Producer(kafka)
    try:
        outcomes = producer.send_batch(
            [(topic, value, key.encode(), None) for key, value in records], timeout=timeout
        )
    finally:
        producer.close(timeout)
    for (key, _), outcome in zip(records, outcomes, strict=True):
        if outcome is not None:
            raise RetriableError(f"publishing {key} to {topic} failed: {outcome}") from outcome


def publish_config(
    kafka: KafkaClientConfig,
    config: KbridgeConfig,
    *,
    prune: bool = False,
    dry_run: bool = False,
    live: KbridgeConfig | None = None,
    topic: str = RULES_TOPIC,
    timeout: float = 30.0,
) -> ApplyPlan:
    """Publish ``config`` over the live configuration (read from ``topic`` unless given).

    Only created and updated objects are written; with ``prune`` live objects missing from
    ``config`` get tombstones. ``dry_run`` computes the plan without writing. Does not check
    ``config``: run :func:`processor.config.check_config` first.
    """
    if live is None:
        live = read_live_config(kafka, topic=topic, timeout=timeout, create_topic=not dry_run)
    plan = plan_apply(config, live, prune=prune)
    if not dry_run:
        publish_records(kafka, plan.records, topic=topic, timeout=timeout)
    return plan


def publish_object(
    kafka: KafkaClientConfig,
    obj: ConfigObject,
    *,
    topic: str = RULES_TOPIC,
    timeout: float = 30.0,
) -> None:
    """Create or replace one object in the live configuration (management API)."""
    publish_records(
        kafka,
        [(object_key(kind_of(obj), obj.name), encode_object(obj))],
        topic=topic,
        timeout=timeout,
    )


def delete_object(
    kafka: KafkaClientConfig,
    kind: ObjectKind,
    name: str,
    *,
    topic: str = RULES_TOPIC,
    timeout: float = 30.0,
) -> None:
    """Delete one object from the live configuration (a tombstone)."""
    publish_records(kafka, [(object_key(kind, name), None)], topic=topic, timeout=timeout)
