"""Prometheus metrics of sink workers, labelled per target.

Like the router's metrics, a whole batch is aggregated first and Prometheus is touched once
per label set per batch, so metrics cost nothing noticeable per delivery.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from processor.sinks.batch import BatchResult
from processor.sinks.deadletter import error_code

#: Milliseconds matter for alerts (issue 14), hours for retried deliveries.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    3600.0,
)


class SinkMetrics:
    """Counters of one process's sink workers (create one per process and registry)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.delivered = Counter(
            "kbridge_sink_events_delivered", "Events delivered", ["target"], registry=registry
        )
        self.failed_attempts = Counter(
            "kbridge_sink_attempts_failed",
            "Failed delivery attempts (retried or dead-lettered), per error code",
            ["target", "code"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "kbridge_sink_events_dead_lettered",
            "Events sent to the target's dead-letter topic",
            ["target", "code", "condition"],
            registry=registry,
        )
        self.latency = Histogram(
            "kbridge_sink_delivery_latency_seconds",
            "Ingestion to successful delivery, per event (includes retries)",
            ["target"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.destination_up = Gauge(
            "kbridge_sink_destination_up",
            "1 while the target's destination is reachable, 0 while every attempt finds it "
            "down (connection refused, database unavailable)",
            ["target"],
            registry=registry,
        )
        self.paused = Gauge(
            "kbridge_sink_partitions_paused",
            "Partitions paused for backpressure or a long retry wait",
            ["target"],
            registry=registry,
        )

    def record_batch(self, target: str, result: BatchResult) -> None:
        """Add one finished batch (after its dead letters were acknowledged)."""
        if result.delivered:
            self.delivered.labels(target).inc(result.delivered)
        for code, count in result.failures.items():
            self.failed_attempts.labels(target, code).inc(count)
        dead: dict[tuple[str, str], int] = {}
        for letter in result.dead_letters:
            key = (error_code(letter.error), letter.condition)
            dead[key] = dead.get(key, 0) + 1
        for (code, condition), count in dead.items():
            self.dead_lettered.labels(target, code, condition).inc(count)
        histogram = self.latency.labels(target)
        for seconds in result.latencies:
            histogram.observe(max(seconds, 0.0))
