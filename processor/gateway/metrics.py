"""Prometheus metrics of one gateway app, in its own registry (apps never share counters).

With ``kbridge gateway --workers N`` every worker process serves ``/metrics``; the command
sets ``PROMETHEUS_MULTIPROC_DIR`` so that each worker writes its samples there and any
worker's ``/metrics`` renders the sum over all workers (prometheus_client's multiprocess
mode), whichever worker the scrape reaches.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class GatewayMetrics:
    """Accepted/failed events per bus and entry point, shed requests, request latency."""

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
        self.shed = Counter(
            "kbridge_gateway_requests_shed",
            "Requests refused with 503 by backpressure (overloaded, kafka-unavailable)",
            ["reason"],
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
        """The text exposition format (summed over worker processes in multiprocess mode)."""
        directory = os.environ.get(MULTIPROC_ENV)
        registry = self.registry
        if directory:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        data: bytes = generate_latest(registry)
        return data
