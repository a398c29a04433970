"""``/metrics`` for every kbridge process.

Each process package owns the metrics it counts (:mod:`processor.router.metrics`,
:mod:`processor.sinks.metrics`, ...); this module only exposes the registry over HTTP, so
it imports none of them.
"""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

log = logging.getLogger(__name__)


def serve_metrics(port: int | None, host: str = "127.0.0.1") -> None:
    """Expose ``/metrics`` on ``port`` (no-op when ``port`` is None)."""
    if port is None:
        return
    start_http_server(port, addr=host)
    log.info("serving metrics", extra={"port": port, "host": host})
