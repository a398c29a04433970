"""What the running system looks like, read from Kafka alone (``kbridge status``, ``/v1/status``).

Every kbridge process is visible in Kafka: routers and sink workers as consumer groups
(``kbridge-router``, ``kbridge-sink-<target>``), their progress as committed offsets, failures
as dead-letter records whose headers carry the error. So the status needs no agent and no
address of any process: an admin client and one short-lived consumer (the newest dead letter
of each target) answer it, as ``rpk group describe`` or Kafka Connect's status endpoint do.

Lag is the sum over partitions of ``high watermark - committed offset``; a partition the
group never committed counts from its low watermark (everything retained is unconsumed).
Sources: the schedule kind is a consumer group (its leader lock) and the Kafka kind reads
through one, so their members are counted; webhook kinds are served by the gateway; MQTT,
AMQP and NATS sources leave no trace in Kafka besides their events (``unknown``; their own
``/readyz`` says more).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec

from processor.config import KbridgeConfig
from processor.kafka import headers as h
from processor.kafka.admin import admin_client
from processor.kafka.config import KafkaClientConfig
from processor.kafka.consumer import make_consumer
from processor.kafka.topics import bus_topic, target_dlq_topic, target_topic

log = logging.getLogger(__name__)

ROUTER_GROUP = "kbridge-router"
"""``kbridge router``'s default ``--group-id``."""
BROKER_SOURCE_KINDS = frozenset({"mqtt", "amqp", "nats", "kafka", "schedule"})


@dataclass
class GroupStatus:
    """One consumer group on one topic."""

    group: str
    topic: str
    members: int = 0
    state: str = "unknown"
    lag: int = 0
    partitions: int = 0


@dataclass
class BusStatus:
    """A bus: its ingress topic as the router group sees it."""

    name: str
    router: GroupStatus


@dataclass
class TargetStatus:
    """A target: its egress topic as its sink group sees it, and its dead letters."""

    name: str
    kind: str
    sink: GroupStatus
    dead_letters: int = 0
    last_error: str | None = None
    last_error_code: str | None = None
    last_error_at: str | None = None


@dataclass
class SourceStatus:
    """A source: where it runs and whether Kafka sees it running."""

    name: str
    kind: str
    bus: str
    state: str
    members: int | None = None


@dataclass
class Thresholds:
    """What counts as unhealthy (``kbridge status --max-lag`` ...)."""

    max_lag: int = 1000
    max_dead_letters: int | None = None


@dataclass
class StatusReport:
    """The whole answer; :attr:`problems` empty means healthy."""

    kafka: str
    buses: list[BusStatus] = field(default_factory=list)
    targets: list[TargetStatus] = field(default_factory=list)
    sources: list[SourceStatus] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """No problem found."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON and YAML (``healthy`` included)."""
        return {"healthy": self.healthy, **asdict(self)}


class Inspector:
    """Reads groups, offsets and dead letters through one admin client."""

    def __init__(self, kafka: KafkaClientConfig, timeout: float = 10.0) -> None:
        self.kafka = kafka
        self.timeout = timeout
        self.admin: AdminClient = admin_client(kafka)
        self._topics: dict[str, int] = {}

    def partitions(self, topic: str) -> int:
        """The topic's partition count (0 when it does not exist)."""
        if not self._topics:
            metadata = self.admin.list_topics(timeout=self.timeout)
            self._topics = {name: len(t.partitions) for name, t in metadata.topics.items()}
        return self._topics.get(topic, 0)

    def watermarks(self, topic: str) -> tuple[list[int], list[int]]:
        """Low and high watermark of each partition."""
        count = self.partitions(topic)
        lows, highs = [0] * count, [0] * count
        specs = ((OffsetSpec.earliest(), lows), (OffsetSpec.latest(), highs))  # type: ignore[no-untyped-call]
        for spec, out in specs:
            request = {TopicPartition(topic, p): spec for p in range(count)}
            if not request:
                continue
            futures = self.admin.list_offsets(request, request_timeout=self.timeout)
            for tp, future in futures.items():
                out[tp.partition] = future.result(timeout=self.timeout).offset
        return lows, highs

    def group(self, group: str, topic: str) -> GroupStatus:
        """Members (those assigned ``topic``, or all when assignments are not visible) and lag."""
        status = GroupStatus(group=group, topic=topic, partitions=self.partitions(topic))
        description = self.admin.describe_consumer_groups([group], request_timeout=self.timeout)[
            group
        ].result(timeout=self.timeout)
        status.state = getattr(description.state, "name", str(description.state))
        members = list(description.members)
        assigned = [
            m
            for m in members
            if m.assignment
            and any(tp.topic == topic for tp in (m.assignment.topic_partitions or []))
        ]
        any_visible = any(m.assignment and m.assignment.topic_partitions for m in members)
        status.members = len(assigned) if any_visible else len(members)
        if status.partitions:
            lows, highs = self.watermarks(topic)
            committed = self.committed(group, topic, status.partitions)
            status.lag = 0
            for p, high in enumerate(highs):
                done = committed.get(p, -1)
                status.lag += max(0, high - (done if done >= 0 else lows[p]))
        return status

    def committed(self, group: str, topic: str, partitions: int) -> dict[int, int]:
        """The group's committed offset per partition (-1: none)."""
        request = ConsumerGroupTopicPartitions(
            group, [TopicPartition(topic, p) for p in range(partitions)]
        )
        future = self.admin.list_consumer_group_offsets([request], request_timeout=self.timeout)
        result = future[group].result(timeout=self.timeout)
        return {tp.partition: tp.offset for tp in result.topic_partitions}

    def last_records(self, topics: Iterable[str]) -> dict[str, Any]:
        """The newest record of each topic (by timestamp over its partitions); empty skipped."""
        wanted: list[TopicPartition] = []
        for topic in topics:
            lows, highs = self.watermarks(topic)
            wanted += [
                TopicPartition(topic, p, high - 1)
                for p, (low, high) in enumerate(zip(lows, highs, strict=True))
                if high > low
            ]
        newest: dict[str, Any] = {}
        if not wanted:
            return newest
        consumer = make_consumer(
            self.kafka,
            f"kbridge-status-{uuid.uuid4().hex}",
            **{"enable.auto.commit": False, "isolation.level": "read_uncommitted"},
        )
        try:
            consumer.assign(wanted)
            pending = {(tp.topic, tp.partition) for tp in wanted}
            deadline = time.monotonic() + self.timeout
            while pending and time.monotonic() < deadline:
                for msg in consumer.consume(len(pending), 0.5):
                    got, partition = msg.topic(), msg.partition()
                    if msg.error() or got is None or partition is None:
                        continue
                    pending.discard((got, partition))
                    best = newest.get(got)
                    if best is None or msg.timestamp()[1] > best.timestamp()[1]:
                        newest[got] = msg
        finally:
            consumer.close()
        return newest


def _header(msg: Any, name: str) -> str | None:
    for key, value in msg.headers() or []:
        if key == name and value is not None:
            return bytes(value).decode("utf-8", "replace")
    return None


def _failed_at(msg: Any) -> str:
    """When the newest dead letter failed: its header, else the record's timestamp (UTC)."""
    text = _header(msg, h.FAILED_AT)
    try:
        seconds = float(text) if text is not None else msg.timestamp()[1] / 1000
    except ValueError:
        return str(text)
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _source_status(source: Any, inspector: Inspector, kafka: KafkaClientConfig) -> SourceStatus:
    status = SourceStatus(source.name, source.kind, source.bus, state="unknown")
    if source.kind not in BROKER_SOURCE_KINDS:
        status.state = "served by the gateway"
        return status
    if source.kind == "schedule":
        group, where = f"kbridge-schedule-{source.name}", inspector
    elif source.kind == "kafka":
        group = source.group_id or f"kbridge-source-{source.name}"
        same = source.cluster.bootstrap_servers == kafka.bootstrap_servers
        where = inspector if same else Inspector(source.cluster, timeout=inspector.timeout)
    else:
        return status  # MQTT, AMQP, NATS: nothing of them in Kafka but their events
    description = where.admin.describe_consumer_groups([group], request_timeout=where.timeout)[
        group
    ].result(timeout=where.timeout)
    status.members = len(description.members)
    status.state = "running" if status.members else "not running"
    return status


def collect(
    config: KbridgeConfig,
    kafka: KafkaClientConfig,
    *,
    router_group: str = ROUTER_GROUP,
    thresholds: Thresholds | None = None,
    timeout: float = 10.0,
) -> StatusReport:
    """Read the status of every bus, target and source of ``config`` from Kafka."""
    limits = thresholds or Thresholds()
    inspector = Inspector(kafka, timeout)
    report = StatusReport(kafka=kafka.bootstrap_servers)
    inspector.partitions(bus_topic("-"))  # reach Kafka even when nothing is configured
    for bus in config.buses:
        group = inspector.group(router_group, bus_topic(bus.name))
        report.buses.append(BusStatus(bus.name, group))
        if group.partitions == 0:
            report.problems.append(f"bus {bus.name}: topic {group.topic} does not exist")
        elif group.members == 0:
            report.problems.append(f"bus {bus.name}: router group {router_group} has no members")
        if group.lag > limits.max_lag:
            report.problems.append(f"bus {bus.name}: router lag {group.lag} > {limits.max_lag}")
    dlqs = {target_dlq_topic(t.name): t.name for t in config.targets}
    newest = inspector.last_records(t for t in dlqs if inspector.partitions(t))
    for target in config.targets:
        group = inspector.group(f"kbridge-sink-{target.name}", target_topic(target.name))
        status = TargetStatus(target.name, target.kind, group)
        dlq = target_dlq_topic(target.name)
        if inspector.partitions(dlq):
            lows, highs = inspector.watermarks(dlq)
            status.dead_letters = sum(high - low for low, high in zip(lows, highs, strict=True))
        last = newest.get(dlq)
        if last is not None:
            status.last_error = _header(last, h.ERROR_MESSAGE)
            status.last_error_code = _header(last, h.ERROR_CODE)
            status.last_error_at = _failed_at(last)
        report.targets.append(status)
        if group.members == 0:
            report.problems.append(f"target {target.name}: sink group {group.group} has no members")
        if group.lag > limits.max_lag:
            report.problems.append(f"target {target.name}: sink lag {group.lag} > {limits.max_lag}")
        if limits.max_dead_letters is not None and status.dead_letters > limits.max_dead_letters:
            report.problems.append(
                f"target {target.name}: {status.dead_letters} dead letters "
                f"> {limits.max_dead_letters}"
            )
    for source in config.sources:
        try:
            status_of = _source_status(source, inspector, kafka)
        except KafkaException as exc:
            status_of = SourceStatus(source.name, source.kind, source.bus, f"unknown ({exc})")
        report.sources.append(status_of)
        if status_of.state == "not running":
            report.problems.append(f"source {source.name}: not running (no group members)")
    return report
