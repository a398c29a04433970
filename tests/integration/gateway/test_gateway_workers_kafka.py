"""``kbridge gateway --workers 2``: two processes on one port, metrics summed across them.

The real command runs against the test broker; requests on fresh connections are spread by
the kernel over both workers' accept calls. Checked: two worker processes serve, health and
readiness answer, every accepted event is read back from Kafka, and ``/metrics`` (whichever
worker answers it) counts every event accepted by either worker.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gateway_harness import ReadBack

from processor.kafka.topics import bus_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def accepted_total(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("kbridge_gateway_events_accepted_total{")
    )


def test_two_workers_share_the_port_and_sum_their_metrics(
    kafka_bootstrap: str, gateway_bus: str, read_back: ReadBack
) -> None:
    port = free_port()
    env = {**os.environ, "KBRIDGE_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    gateway = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "processor",
            "--log-level",
            "WARNING",
            "gateway",
            "--buses",
            gateway_bus,
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        ready = 0
        while time.monotonic() < deadline and ready < 4:  # several answers: both started
            try:
                ready = (
                    ready + 1 if httpx.get(f"{base}/readyz", timeout=2).status_code == 200 else 0
                )
            except httpx.HTTPError:
                ready = 0
            time.sleep(0.3)
        assert ready >= 4, "the gateway did not become ready"
        workers = [  # uvicorn spawns its workers through multiprocessing's spawn_main
            pid
            for pid in children(gateway.pid)
            if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        ]
        assert len(workers) == 2, workers
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}

        requests = 30
        for n in range(requests):  # a new connection each time
            entries = [
                {"Source": "test.workers", "DetailType": "T", "Detail": f'{{"n": {n}, "i": {i}}}'}
                for i in range(2)
            ]
            response = httpx.post(
                f"{base}/v1/buses/{gateway_bus}/events", json={"Entries": entries}
            )
            assert response.json()["FailedEntryCount"] == 0
        read_back(bus_topic(gateway_bus), 2 * requests)
        totals = {accepted_total(httpx.get(f"{base}/metrics").text) for _ in range(6)}
        assert totals == {2.0 * requests}, totals  # the same sum whichever worker answers
        latency = httpx.get(f"{base}/metrics").text
        count = re.search(
            r'kbridge_gateway_request_seconds_count\{endpoint="/v1/buses/\{bus\}/events",'
            r'status="200"\} (\S+)',
            latency,
        )
        assert count is not None and float(count.group(1)) == requests
    finally:
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(60) == 0
