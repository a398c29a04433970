"""The sink of a target, rebuilt when its configuration changes, shared by partition tasks.

Every batch leases the sink built for the configuration current when the batch started. A
configuration change builds a new sink; the old one is *retired* and closed only when its
last batch returned it, so a live change never cuts a delivery in half and never needs a
restart. A sink whose setup fails (destination unreachable at start) is retried with a
backoff capped at 5 s and logged once: records wait in Kafka, they are never dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from processor.backoff import Backoff, BackoffCounter
from processor.sinks.base import Publish, Sink, SinkContext

log = logging.getLogger(__name__)

SETUP_BACKOFF = Backoff(base=0.5, cap=5.0, jitter=0.0)
"""Waiting for a target config or a sink setup: 0.5 s doubling to 5 s, so a sink whose
destination is down at start begins delivering within seconds of its arrival."""


class ConfigView(Protocol):
    """What the worker reads from a configuration snapshot (``KbridgeConfig`` fits)."""

    def target(self, name: str) -> Any: ...

    def connection(self, name: str) -> Any: ...

    def rule(self, name: str) -> Any: ...


SnapshotFn = Callable[[], ConfigView]
SinkBuilder = Callable[[Any, SinkContext], Sink]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(eq=False)
class Lease:
    """A sink and how many batches are using it."""

    sink: Sink
    users: int = 0
    retired: bool = False


class SinkLeases:
    """Hands out the current sink of one target; builds, swaps and closes sinks."""

    def __init__(
        self,
        target: str,
        *,
        snapshot: SnapshotFn,
        builder: SinkBuilder,
        clusters: dict[str, Any] | None = None,
        kafka: Any = None,
        publish: Publish | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.target = target
        self.snapshot = snapshot
        self.builder = builder
        self.clusters = clusters or {}
        self.kafka = kafka
        self.publish = publish
        self.sleep = sleep
        self._lease: Lease | None = None
        self._key: Any = None
        self._lock = asyncio.Lock()

    def context(self, view: ConfigView, target: Any) -> SinkContext:
        """What the sink may need besides its target: its connection, clusters, publish."""
        connections: dict[str, Any] = {}
        name = getattr(target, "connection", None)
        if name:
            connection = view.connection(name)
            if connection is not None:
                connections[name] = connection
        return SinkContext(
            target_name=self.target,
            connections=connections,
            clusters=self.clusters,
            kafka=self.kafka,
            publish=self.publish,
        )

    async def acquire(self) -> tuple[Lease, Any]:
        """The lease of the sink for the current target config, and that target config."""
        waits = BackoffCounter(SETUP_BACKOFF)
        failures = 0
        while True:
            view = self.snapshot()
            target = view.target(self.target)
            if target is None and self._lease is None:
                log.warning("target %s is not configured yet; waiting", self.target)
                await self.sleep(waits.next_delay())
                continue
            async with self._lock:
                if target is not None:
                    context = self.context(view, target)
                    key = (target, tuple(context.connections.items()))
                    if self._lease is None or key != self._key:
                        try:
                            await self._replace(target, context, key)
                        except Exception as exc:  # setup failed: try again, never drop records
                            failures += 1
                            delay = waits.next_delay()
                            log.log(  # once per state change, not once per attempt
                                logging.ERROR if failures == 1 else logging.DEBUG,
                                "cannot set up sink for %s: %s; retrying every %.0fs at most",
                                self.target,
                                exc,
                                SETUP_BACKOFF.cap,
                            )
                            await self.sleep(delay)
                            continue
                        if failures:
                            log.info(
                                "sink for %s set up after %d failed attempts",
                                self.target,
                                failures,
                            )
                            failures = 0
                assert self._lease is not None
                self._lease.users += 1
                return self._lease, target if target is not None else self._key[0]

    async def _replace(self, target: Any, context: SinkContext, key: Any) -> None:
        sink = self.builder(target, context)
        await sink.setup()
        old = self._lease
        self._lease = Lease(sink)
        self._key = key
        if old is not None:
            log.info("target %s changed: new sink in use", self.target)
            old.retired = True
            if old.users == 0:
                await old.sink.close()

    async def release(self, lease: Lease) -> None:
        """A batch is done with ``lease``; a retired sink closes with its last user."""
        lease.users -= 1
        if lease.retired and lease.users == 0:
            await lease.sink.close()

    async def close(self) -> None:
        """Close the current sink (the worker stops)."""
        if self._lease is not None:
            await self._lease.sink.close()
            self._lease = None
