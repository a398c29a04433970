"""Which events are traced: the deployment's default and each bus's ``trace`` section.

Every stage (gateway, sources, router, sinks) asks :meth:`TracePolicy.traced` for every
event, so the answer is one dict lookup and, for a sampled bus, one comparison of the
event id's hash (:func:`processor.trace.partitioning.trace_hash`, computed anyway to pick
the trace partition). The hash is the same in every process, so a sampled event has its
whole timeline and an unsampled one has none.

The default comes from the environment (``KBRIDGE_TRACE__ENABLED``, ``__SAMPLE``,
``__OFF_BUSES``: :mod:`.settings`); a bus's ``trace: {enabled, sample}`` in kbridge.yaml
overrides it. The per-bus rates are read from the process's live configuration
(:func:`processor.config.store.live_configs`) by the writer's background thread about
once a second (:meth:`refresh`), never on the event path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from processor.trace.partitioning import SAMPLE_SCALE
from processor.trace.settings import TraceSettings

log = logging.getLogger(__name__)


class BusTraceLike(Protocol):
    """A bus's ``trace`` section (:class:`processor.config.buses.BusTrace`)."""

    @property
    def enabled(self) -> bool: ...
    @property
    def sample(self) -> float | None: ...


class BusLike(Protocol):
    """What the policy reads of a bus (:class:`processor.config.buses.Bus`)."""

    @property
    def name(self) -> str: ...
    @property
    def trace(self) -> BusTraceLike | None: ...


class TracePolicy:
    """Per-bus sampling thresholds (``hash % SAMPLE_SCALE < threshold`` is traced)."""

    def __init__(self, settings: TraceSettings) -> None:
        self.settings = settings
        self.default = _threshold(settings.sample if settings.enabled else 0.0)
        self._off = settings.buses_off
        self.thresholds: dict[str, int] = dict.fromkeys(self._off, 0)
        """Per-bus thresholds that differ from :attr:`default` (replaced, never mutated)."""

    def threshold(self, bus: str | None) -> int:
        """``0``: never traced; ``SAMPLE_SCALE``: always; in between: sampled."""
        if bus is None:
            return self.default
        return self.thresholds.get(bus, self.default)

    def traced(self, hashed: int, bus: str | None) -> bool:
        """Whether the event whose id hashes to ``hashed`` (on ``bus``) is traced."""
        threshold = self.default if bus is None else self.thresholds.get(bus, self.default)
        return hashed % SAMPLE_SCALE < threshold

    def update(self, buses: Iterable[BusLike]) -> None:
        """Take each bus's ``trace`` section (buses without one follow the default).

        The environment's ``KBRIDGE_TRACE__OFF_BUSES`` wins over kbridge.yaml (an operator
        can silence a bus without a configuration change); so does ``ENABLED=false``.
        """
        thresholds: dict[str, int] = dict.fromkeys(self._off, 0)
        for bus in buses:
            section = bus.trace
            if section is None or bus.name in thresholds:
                continue
            if not self.settings.enabled or not section.enabled:
                thresholds[bus.name] = 0
            elif section.sample is not None:
                thresholds[bus.name] = _threshold(section.sample)
        if thresholds != self.thresholds:
            log.info(
                "tracing: default %.4g, per bus %s",
                self.default / SAMPLE_SCALE,
                {b: t / SAMPLE_SCALE for b, t in sorted(thresholds.items())} or "-",
            )
            self.thresholds = thresholds  # one reference swap: readers see old or new

    def refresh(self) -> None:
        """Read the buses of the process's live configuration (the writer's thread)."""
        from processor.config.store import live_configs

        buses = [bus for config in live_configs() for bus in config.buses]
        self.update(buses)


def _threshold(sample: float) -> int:
    return round(min(max(sample, 0.0), 1.0) * SAMPLE_SCALE)
