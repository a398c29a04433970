"""Readiness from Kafka's point of view: the brokers answer, the process's group has members.

Each process's own clients see broker failures too, but only while polled and each in its
own way (librdkafka callbacks, aiokafka exceptions, Faust's supervisor). A small admin
client of its own, probing every ``interval`` seconds on a daemon thread, gives every
process kind the same answer without touching its hot path.

A short broker hiccup must not take every pod out of the Service at once, so Kafka counts
as unreachable only after ``unreachable_after`` seconds without an answer
(``KBRIDGE_READY_KAFKA_TIMEOUT``); the first answer after that makes the process ready
again by itself. Before the first answer the process is not ready (it has not connected).
The group check passes while the process's consumer group (``kbridge-router``,
``kbridge-sink-<target>``) has members and is not empty or dead: the process joined it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from processor.clock import Clock, SystemClock
from processor.kafka.admin import admin_client
from processor.kafka.config import KafkaClientConfig
from processor.observability.health import Check, HealthServer, Readiness, serve_health

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupView:
    """What the last successful probe saw of the consumer group."""

    state: str
    members: int


class KafkaWatch:
    """Tracks when Kafka last answered and how the process's group looked then."""

    def __init__(
        self,
        config: KafkaClientConfig,
        *,
        group: str | None = None,
        unreachable_after: float = 15.0,
        interval: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.group = group
        self.unreachable_after = unreachable_after
        self.interval = interval
        self.clock = clock or SystemClock()
        self.last_answer: float | None = None
        self.group_view: GroupView | None = None
        self._unreachable_logged = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._admin: Any = None

    # -- state (pure, unit-tested with a ManualClock) -------------------------------------

    def record(self, answered: bool, group_view: GroupView | None = None) -> None:
        """One probe's outcome."""
        if answered:
            if self._unreachable_logged:
                log.info("Kafka reachable again", extra={"kafka": self.config.bootstrap_servers})
                self._unreachable_logged = False
            self.last_answer = self.clock.monotonic()
            if group_view is not None:
                self.group_view = group_view
        elif self.kafka_check() is not None and not self._unreachable_logged:
            self._unreachable_logged = True
            log.warning(
                "Kafka unreachable; not ready", extra={"kafka": self.config.bootstrap_servers}
            )

    def kafka_check(self) -> str | None:
        """``None`` while Kafka answered within ``unreachable_after`` seconds, else why not."""
        where = self.config.bootstrap_servers
        if self.last_answer is None:
            return f"Kafka at {where} has not answered yet"
        silent = self.clock.monotonic() - self.last_answer
        if silent > self.unreachable_after:
            return f"Kafka at {where} unreachable for {silent:.0f} s"
        return None

    def group_check(self) -> str | None:
        """``None`` while the group has members (the process joined it), else why not."""
        view = self.group_view
        if self.group is None:
            return None
        if view is None:
            return f"consumer group {self.group} not described yet"
        if view.members == 0 or view.state in ("EMPTY", "DEAD"):
            return f"consumer group {self.group} has no members (state {view.state})"
        return None

    # -- probing --------------------------------------------------------------------------

    def probe_once(self) -> None:
        """Ask the brokers to describe the cluster (and the group) and record the result.

        ``describe_cluster`` rather than ``list_topics``: a metadata request for every topic
        cost 39 ms of CPU per probe against a cluster of 3,772 topics (every process probes
        every 2 s), against 0.6 ms for the cluster description.
        After any failure the admin client is replaced: one that lived through a broker
        restart was seen timing out on every request long after the broker was back.
        """
        if self._admin is None:
            self._admin = admin_client(self.config)
        try:
            self._admin.describe_cluster(request_timeout=self.interval).result(
                timeout=self.interval + 1
            )
        except Exception as exc:
            log.debug("Kafka probe failed", extra={"error": str(exc)})
            self._admin = None
            self.record(False)
            return
        view: GroupView | None = None
        if self.group:
            try:
                view = self._describe_group()
            except Exception as exc:  # the brokers answered; only the group is unknown
                log.debug("describing the group failed", extra={"error": str(exc)})
                self._admin = None
                view = GroupView(state=f"unknown ({exc})", members=0)
        self.record(True, view)

    def _describe_group(self) -> GroupView:
        futures = self._admin.describe_consumer_groups([self.group], request_timeout=self.interval)
        description = futures[self.group].result(timeout=self.interval + 1)
        state = getattr(description.state, "name", str(description.state))
        return GroupView(state=state, members=len(description.members))

    def start(self) -> KafkaWatch:
        """Probe every ``interval`` seconds on a daemon thread; returns self."""
        self._thread = threading.Thread(target=self._loop, name="kbridge-kafkawatch", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.probe_once()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        """Stop probing."""
        self._stop.set()

    def register(self, readiness: Readiness) -> KafkaWatch:
        """Add the ``kafka`` (and, with a group, ``group``) checks to ``readiness``."""
        readiness.add("kafka", self.kafka_check)
        if self.group is not None:
            readiness.add("group", self.group_check)
        return self


def serve_process_health(
    port: int | None,
    host: str,
    kafka: KafkaClientConfig,
    *,
    group: str | None = None,
    unreachable_after: float = 15.0,
    checks: dict[str, Check] | None = None,
) -> HealthServer | None:
    """What ``kbridge router|sink|source`` call: the endpoints plus the Kafka probe.

    Nothing is started when ``port`` is None (no ``--metrics-port`` nor
    ``KBRIDGE_METRICS_PORT``): the probe exists only to answer ``/readyz``.
    """
    if port is None:
        return None
    readiness = Readiness()
    for name, check in (checks or {}).items():
        readiness.add(name, check)
    KafkaWatch(kafka, group=group, unreachable_after=unreachable_after).register(readiness).start()
    return serve_health(port, host, readiness)
