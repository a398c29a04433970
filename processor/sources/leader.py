"""Leader election through a Kafka consumer group: whoever owns partition 0 leads.

Every candidate joins the same consumer group on a topic whose partition 0 acts as the lock;
the group coordinator hands that partition to exactly one live member, and to another one
when the leader leaves (clean shutdown: at once) or stops heartbeating (``session.timeout``).

Group membership alone can briefly overlap (a paused leader has not noticed its revocation
yet), so callers that must never act twice pair it with a fencing token: the schedule source
uses a transactional producer with a per-schedule ``transactional.id``, whose
``init_transactions`` on the new leader fences the old one out of Kafka for good.

A background thread polls the consumer (heartbeats, rebalance callbacks); the asyncio side
sees :attr:`is_leader` and :attr:`changed`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from processor.kafka.config import KafkaClientConfig

log = logging.getLogger(__name__)

LOCK_PARTITION = 0


class KafkaLeaderLock:
    """Membership in ``group_id`` on ``topic``; leader while partition 0 is assigned."""

    def __init__(
        self,
        config: KafkaClientConfig,
        group_id: str,
        topic: str,
        *,
        session_timeout_ms: int = 6000,
    ) -> None:
        self.group_id = group_id
        self.topic = topic
        self._conf = config.librdkafka(
            **{
                "group.id": group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
                "session.timeout.ms": session_timeout_ms,
                "heartbeat.interval.ms": max(session_timeout_ms // 6, 100),
                "partition.assignment.strategy": "range",
            }
        )
        self.is_leader = False
        self.changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """Join the group (returns at once; leadership arrives through :attr:`changed`)."""
        self._loop = asyncio.get_running_loop()
        self._closing.clear()
        self._thread = threading.Thread(
            target=self._serve, name=f"kbridge-leader-{self.group_id}", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        """Leave the group: the next candidate takes over without waiting for a timeout."""
        self._closing.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)
        self._notify(False)

    def _serve(self) -> None:
        consumer = Consumer(self._conf)
        consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not self._closing.is_set():
                consumer.poll(0.1)  # heartbeats and rebalances; records are ignored
        except Exception:
            log.exception("leader lock consumer failed", extra={"group": self.group_id})
        finally:
            self._notify(False)
            consumer.close()  # leaves the group

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self._notify(any(p.partition == LOCK_PARTITION for p in partitions))

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        if any(p.partition == LOCK_PARTITION for p in partitions):
            self._notify(False)

    def _notify(self, leader: bool) -> None:
        if self._loop is None or self._loop.is_closed():
            self.is_leader = leader
            return

        def apply() -> None:
            if self.is_leader != leader:
                self.is_leader = leader
                log.info("leadership changed", extra={"group": self.group_id, "leader": leader})
            self.changed.set()

        try:
            self._loop.call_soon_threadsafe(apply)
        except RuntimeError:  # loop closed meanwhile
            self.is_leader = leader
