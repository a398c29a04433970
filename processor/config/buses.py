"""Buses: named event streams, each backed by one ingress topic ``kbridge.bus.<name>``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from processor.config._base import ConfigModel, Description, Name
from processor.config.durations import Duration, parse_duration


class BusTrace(ConfigModel):
    """Event tracing for one bus (docs/tracing.md): switched off, or a sampled share.

    The global default is the environment of every process (``KBRIDGE_TRACE__ENABLED``,
    ``KBRIDGE_TRACE__SAMPLE``); this overrides it for the bus. Which events of a sampled bus
    are traced is decided by a hash of the event id, so every stage picks the same events.
    """

    enabled: bool = True
    """`false`: no trace record for this bus's events (gateway, router and sinks alike)."""
    sample: Annotated[float, Field(ge=0.0, le=1.0, examples=[0.1, 1.0])] | None = None
    """Share of this bus's events that are traced, 0.0 to 1.0; unset: the deployment's
    `KBRIDGE_TRACE__SAMPLE` (default 1.0, every event)."""


class Bus(ConfigModel):
    """An event bus. ``retention`` is the archive window replay can reach back into."""

    name: Name
    """Bus name; the ingress topic is `kbridge.bus.<name>`, dead letters
    `kbridge.bus.<name>.dlq`."""
    description: Description = ""
    """Free text, shown by `kbridge get buses`."""
    partitions: Annotated[int, Field(ge=1, le=10000)] = 6
    """Partitions of the ingress topic when `kbridge apply` creates it (existing topics keep
    theirs); the router parallelism ceiling."""
    retention: Annotated[Duration, Field(ge=60, examples=["7d", "24h", 3600])] = parse_duration(
        "7d"
    )
    """`retention.ms` of the ingress topic: how far back `kbridge replay` can reach. A change is
    applied to the existing topic."""
    max_event_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 262144
    """Largest event (bytes) accepted for this bus."""
    trace: BusTrace | None = None
    """Event tracing for this bus, e.g. `{enabled: false}` or `{sample: 0.1}`; unset: the
    deployment's default (docs/tracing.md)."""

    @property
    def retention_ms(self) -> int:
        """The ingress topic's ``retention.ms``."""
        return int(self.retention * 1000)
