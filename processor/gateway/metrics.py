"""Prometheus metrics of one gateway app, in its own registry (apps never share counters).

With ``kbridge gateway --workers N`` every worker process serves ``/metrics``; the command
sets ``PROMETHEUS_MULTIPROC_DIR`` so that each worker writes its samples there and any
worker's ``/metrics`` renders the sum over all workers (prometheus_client's multiprocess
mode), whichever worker the scrape reaches.
"""

from __future__ import annotations

import os
from typing import Any

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
        # Labelled children by label values: ``labels()`` validates and hashes its
        # arguments on every call (a few us, twice per request on the hot path). The label
        # values are bounded (declared buses, endpoints, status codes, error codes).
        self._latency: dict[tuple[str, int], Any] = {}
        self._accepted: dict[tuple[str, str], Any] = {}

    def observe_latency(self, endpoint: str, status: int, seconds: float) -> None:
        """One request's handling time under its route template and status."""
        child = self._latency.get((endpoint, status))
        if child is None:
            child = self._latency[endpoint, status] = self.latency.labels(endpoint, str(status))
        child.observe(seconds)

    def accept(self, bus: str, endpoint: str, count: int) -> None:
        """``count`` events of ``bus`` were acknowledged by Kafka."""
        child = self._accepted.get((bus, endpoint))
        if child is None:
            child = self._accepted[bus, endpoint] = self.accepted.labels(bus, endpoint)
        child.inc(count)

    def render(self) -> bytes:
        """The text exposition format (summed over worker processes in multiprocess mode)."""
        directory = os.environ.get(MULTIPROC_ENV)
        registry = self.registry
        if directory:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        data: bytes = generate_latest(registry)
        return data
