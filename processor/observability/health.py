"""``/healthz``, ``/readyz`` and ``/metrics`` on one port per process (router, sink, source).

Kubernetes needs two different answers from a long-running process: *alive* (restart it if
not) and *ready* (send it work, count it as a member). A process that lost its broker is
alive (restarting it would not bring Kafka back) but not ready, so the two are separate:
``/healthz`` answers 200 while the process runs, ``/readyz`` answers 200 only while every
readiness check passes and 503 with the failing checks' reasons otherwise.

Checks are plain callables returning ``None`` (fine) or a reason; the process registers its
own (configuration loaded, source running) and :class:`~processor.observability.kafkawatch.
KafkaWatch` adds the Kafka ones. The server is the standard library's threading HTTP server
on a daemon thread, so it answers even while the process's own loop is busy or blocked.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from processor.errors import ConfigError

log = logging.getLogger(__name__)

Check = Callable[[], str | None]
"""A readiness check: ``None`` when fine, else why the process is not ready."""


class Readiness:
    """The named readiness checks of one process (thread-safe)."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self._lock = threading.Lock()

    def add(self, name: str, check: Check) -> None:
        """Register (or replace) the check ``name``."""
        with self._lock:
            self._checks[name] = check

    def evaluate(self) -> dict[str, str | None]:
        """Every check's result by name; a check that raises counts as failing."""
        with self._lock:
            checks = list(self._checks.items())
        results: dict[str, str | None] = {}
        for name, check in checks:
            try:
                results[name] = check()
            except Exception as exc:  # a broken check must not break the endpoint
                results[name] = f"check failed: {exc!r}"
        return results

    def ready(self) -> tuple[bool, dict[str, str | None]]:
        """Whether every check passes, and each check's result."""
        results = self.evaluate()
        return all(reason is None for reason in results.values()), results


class _Handler(BaseHTTPRequestHandler):
    server: HealthServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(200, "application/json", b'{"status":"ok"}')
        elif path == "/readyz":
            ok, results = self.server.readiness.ready()
            body = {
                "status": "ready" if ok else "not-ready",
                "checks": {name: reason or "ok" for name, reason in results.items()},
                "reason": "; ".join(f"{n}: {r}" for n, r in results.items() if r) or "ok",
            }
            self._send(200 if ok else 503, "application/json", json.dumps(body).encode())
        elif path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(self.server.registry))
        else:
            self._send(404, "application/json", b'{"error":"not found"}')

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Probes every few seconds are not worth a log line each."""


class HealthServer(ThreadingHTTPServer):
    """The endpoints' HTTP server; :meth:`start` serves on a daemon thread."""

    daemon_threads = True

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        readiness: Readiness | None = None,
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.readiness = readiness or Readiness()
        self.registry = registry
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self.server_address[1])

    def start(self) -> HealthServer:
        """Serve on a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="kbridge-health", daemon=True
        )
        self._thread.start()
        log.info(
            "serving /healthz, /readyz and /metrics",
            extra={"port": self.port, "host": self.server_address[0]},
        )
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()


def serve_health(
    port: int | None, host: str = "127.0.0.1", readiness: Readiness | None = None
) -> HealthServer | None:
    """Serve the three endpoints on ``port`` (nothing when ``port`` is None)."""
    if port is None:
        return None
    try:
        server = HealthServer(port, host, readiness)
    except OSError as exc:  # a port in use or a wrong address: one line, not a traceback
        raise ConfigError(
            f"cannot serve /healthz, /readyz and /metrics on {host}:{port}: {exc.strerror or exc}"
            " (--metrics-port / KBRIDGE_METRICS_PORT, KBRIDGE_METRICS_HOST)"
        ) from None
    return server.start()
