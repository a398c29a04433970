"""Prometheus metrics of one gateway app, in its own registry (apps never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics"]


class GatewayMetrics:
    """Accepted/failed events per bus and entry point, and request latency."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "kbridge_gateway_events_accepted",
            "Events acknowledged by Kafka",
            ["bus", "endpoint"],
            registry=self.registry,
        )
        self.failed = Counter(
            "kbridge_gateway_events_failed",
            "Events rejected or not acknowledged",
            ["bus", "endpoint", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kbridge_gateway_request_seconds",
            "Request handling time",
            ["endpoint", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    def render(self) -> bytes:
        """The text exposition format."""
        data: bytes = generate_latest(self.registry)
        return data
