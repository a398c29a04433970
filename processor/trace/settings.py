"""Tracing knobs, read from the environment (``KBRIDGE_TRACE__*``).

Every process (gateway, sources, router, sinks) reads the same variables: the
deployment's default. A bus's ``trace`` section in kbridge.yaml overrides the sampling
for that bus (:mod:`.policy`). Separate from :mod:`processor.settings` so that the tracing
package owns its own configuration.
"""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from processor.errors import ConfigError
from processor.kafka.topics import TRACE_TOPIC


class TraceSettings(BaseSettings):
    """Whether and how events are traced."""

    model_config = SettingsConfigDict(env_prefix="KBRIDGE_TRACE__", frozen=True, extra="ignore")

    enabled: bool = True
    """On by default: ``KBRIDGE_TRACE__ENABLED=false`` writes no trace record at all."""
    sample: float = Field(default=1.0, ge=0.0, le=1.0)
    """Share of events traced (by a hash of the event id, so every stage agrees); a bus's
    ``trace.sample`` in kbridge.yaml overrides it."""
    off_buses: str = ""
    """Comma-separated buses whose events are never traced (wins over kbridge.yaml)."""
    topic: str = TRACE_TOPIC
    partitions: int = Field(default=6, ge=1)
    """Partitions of the trace topic when kbridge creates it (a lookup reads one)."""
    retention_hours: float = Field(default=72.0, gt=0)
    """``retention.ms`` of the trace topic when kbridge creates it."""

    @cached_property
    def buses_off(self) -> frozenset[str]:
        """The buses named in :attr:`off_buses` (parsed once: asked for every event)."""
        return frozenset(b.strip() for b in self.off_buses.split(",") if b.strip())


def load_trace_settings() -> TraceSettings:
    """Read the environment; a bad value is a :class:`ConfigError` naming the variable."""
    try:
        return TraceSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "KBRIDGE_TRACE__" + str(first["loc"][0]).upper() if first["loc"] else "?"
        raise ConfigError(f"{name}: {first['msg']}", code="invalid-settings") from None
