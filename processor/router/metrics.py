"""Prometheus metrics of the router, labelled per bus, rule and target.

Counting per event through ``Counter.labels(...)`` would cost more than routing the event,
so :class:`RouterMetrics` aggregates a whole batch in plain dicts and touches Prometheus
once per label set per batch. They live in the router package because they count its
route results; :mod:`processor.observability.metrics` only serves ``/metrics``.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from processor.kafka.headers import ERROR_CODE
from processor.router.records import RouteResult

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RouterMetrics:
    """The router's counters and histograms (one instance per process)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.received = Counter(
            "kbridge_router_events_received", "Ingress records read", ["bus"], registry=registry
        )
        self.matched = Counter(
            "kbridge_router_events_matched",
            "Events matched per rule",
            ["bus", "rule"],
            registry=registry,
        )
        self.unmatched = Counter(
            "kbridge_router_events_unmatched",
            "Events no rule matched",
            ["bus"],
            registry=registry,
        )
        self.routed = Counter(
            "kbridge_router_events_routed",
            "Egress records produced",
            ["bus", "rule", "target"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "kbridge_router_events_dead_lettered",
            "Records sent to the bus dead-letter topic",
            ["bus", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "kbridge_router_latency_seconds",
            "Ingestion to acknowledged egress, per routed event",
            ["bus"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def record_batch(self, results: Iterable[RouteResult]) -> None:
        """Add one batch's outcomes to the counters."""
        received: Tally[str] = Tally()
        unmatched: Tally[str] = Tally()
        matched: Tally[tuple[str, str]] = Tally()
        routed: Tally[tuple[str, str, str]] = Tally()
        dead: Tally[tuple[str, str]] = Tally()
        for result in results:
            if result.bus is None:
                continue
            received[result.bus] += 1
            if not result.matched_rules and not result.records:
                unmatched[result.bus] += 1
            for rule in result.matched_rules:
                matched[(result.bus, rule)] += 1
            for record in result.records:
                if record.dead_letter:
                    code = dict(record.headers).get(ERROR_CODE, b"").decode()
                    dead[(result.bus, code)] += 1
                else:
                    routed[(result.bus, record.rule or "", record.target or "")] += 1
        for bus, n in received.items():
            self.received.labels(bus).inc(n)
        for bus, n in unmatched.items():
            self.unmatched.labels(bus).inc(n)
        for (bus, rule), n in matched.items():
            self.matched.labels(bus, rule).inc(n)
        for (bus, rule, target), n in routed.items():
            self.routed.labels(bus, rule, target).inc(n)
        for (bus, code), n in dead.items():
            self.dead_lettered.labels(bus, code).inc(n)

    def observe_latency(self, bus: str, seconds: float) -> None:
        """One routed event's ingestion-to-egress latency."""
        self.latency.labels(bus).observe(max(seconds, 0.0))
