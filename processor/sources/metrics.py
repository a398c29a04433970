"""Prometheus metrics of a source process, the same shape as the sinks' (issue 17 item 2).

Sources already count what they publish and dead-letter (:class:`~processor.sources.base.
Source`'s ``published`` and ``dead_lettered``); a collector reads those counts when
``/metrics`` is scraped, so the per-message path stays as it is. Counts survive a
definition change: the runner adds a replaced instance's counts to its totals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from processor.sources.runner import SourceRunner

STATES = ("starting", "running", "stopped", "failed")


class SourceCollector(Collector):
    """``kbridge_source_*`` for one :class:`SourceRunner`."""

    def __init__(self, runner: SourceRunner) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Metric]:
        runner = self.runner
        published, dead = runner.totals()
        labels = [runner.name, runner.kind, runner.bus]
        names = ["source", "kind", "bus"]
        events = CounterMetricFamily(
            "kbridge_source_events_published",
            "Events the source published to its bus's ingress topic (acknowledged by Kafka)",
            labels=names,
        )
        events.add_metric(labels, published)
        yield events
        dead_family = CounterMetricFamily(
            "kbridge_source_events_dead_lettered",
            "Upstream messages that could not become events, sent to the bus's dead-letter topic",
            labels=names,
        )
        dead_family.add_metric(labels, dead)
        yield dead_family
        failures = CounterMetricFamily(
            "kbridge_source_session_failures",
            "Upstream sessions that failed and were reconnected (connection lost, refused)",
            labels=names,
        )
        failures.add_metric(labels, runner.session_failures)
        yield failures
        lag_of = getattr(runner.source, "upstream_lag", None)
        lag = lag_of() if callable(lag_of) else None
        if lag is not None:  # Kafka sources: what the upstream topic holds that is not read
            upstream = GaugeMetricFamily(
                "kbridge_source_upstream_lag",
                "Records on the source's assigned upstream partitions not read yet (Kafka kind)",
                labels=names,
            )
            upstream.add_metric(labels, lag)
            yield upstream
        state = GaugeMetricFamily(
            "kbridge_source_state",
            "1 for the source's current state (starting, running, stopped, failed)",
            labels=[*names, "state"],
        )
        for name in STATES:
            state.add_metric([*labels, name], 1.0 if runner.state == name else 0.0)
        yield state


def register_source_metrics(
    runner: SourceRunner, registry: CollectorRegistry = REGISTRY
) -> SourceCollector:
    """Register the collector of ``runner`` (one per process)."""
    collector = SourceCollector(runner)
    registry.register(collector)
    return collector
