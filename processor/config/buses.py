"""Buses: named event streams, each backed by one ingress topic ``kbridge.bus.<name>``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from processor.config._base import ConfigModel, Description, Name
from processor.config.durations import Duration, parse_duration


class Bus(ConfigModel):
    """An event bus. ``retention`` is the archive window replay can reach back into."""

    name: Name
    description: Description = ""
    partitions: Annotated[int, Field(ge=1, le=10000)] = 6
    retention: Annotated[Duration, Field(ge=60)] = parse_duration("7d")
    max_event_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 262144

    @property
    def retention_ms(self) -> int:
        """The ingress topic's ``retention.ms``."""
        return int(self.retention * 1000)
