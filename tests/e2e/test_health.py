"""Every long-running process answers /healthz, /readyz and /metrics on its --metrics-port,
and /readyz follows its broker: 503 once Kafka has been away for KBRIDGE_READY_KAFKA_TIMEOUT
seconds, 200 again by itself when it returns (issue 17 item 2).

The broker is a private kafka.sh node (tests/support/private_kafka.py), never the shared one.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.kbridge import Kbridge
from tests.support.private_kafka import PrivateKafka, free_port, private_kafka  # noqa: F401

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def get(port: int, path: str) -> tuple[int, dict[str, object] | bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    except OSError:
        return 0, b""
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def wait_all(ports: dict[str, int], status: int, timeout: float, kbridge: Kbridge) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(ports)
    last: dict[str, object] = {}
    while pending and time.monotonic() < deadline:
        for name, port in list(pending.items()):
            got, body = get(port, "/readyz")
            last[name] = (got, body)
            if got == status:
                del pending[name]
        time.sleep(0.5)
    assert not pending, f"/readyz never {status} for {pending}: {last}\n{kbridge.logs()}"


def test_readyz_follows_the_broker_for_every_process(
    private_kafka: PrivateKafka,  # noqa: F811
    unique: str,
    tmp_path: Path,
) -> None:
    u = unique
    kbridge = Kbridge(private_kafka.bootstrap, u, tmp_path)
    kbridge.env["KBRIDGE_READY_KAFKA_TIMEOUT"] = "3"
    try:
        kbridge.apply(f"""
buses: [{{name: ops-{u}, partitions: 1}}]
targets:
  - {{name: hook-{u}, kind: webhook, url: "http://127.0.0.1:9/x", allow_private_network: true}}
rules:
  - name: all-{u}
    bus: ops-{u}
    pattern: {{source: [{{prefix: ""}}]}}
    targets: [{{target: hook-{u}}}]
sources:
  - {{name: beat-{u}, kind: schedule, bus: ops-{u}, expression: rate(1 hour)}}
""")
        ports = {
            "router-native": free_port(),
            "router-faust": free_port(),
            "sink": free_port(),
            "source": free_port(),
            "gateway": free_port(),  # serves the three endpoints on its HTTP port
        }
        kbridge.start(
            "router", "--engine", "native", "--group-id", f"native-{u}",
            "--metrics-port", str(ports["router-native"]), name="native",
        )  # fmt: skip
        kbridge.start(
            "--log-format", "json",
            "router", "--engine", "faust", "--group-id", f"faust-{u}",
            "--metrics-port", str(ports["router-faust"]), name="faust",
        )  # fmt: skip
        kbridge.start("sink", f"hook-{u}", "--metrics-port", str(ports["sink"]), name="sink")
        kbridge.start("source", f"beat-{u}", "--metrics-port", str(ports["source"]), name="src")
        kbridge.start("gateway", "--port", str(ports["gateway"]), "--workers", "1", name="gw")

        wait_all(ports, 200, 120, kbridge)
        assert get(ports["sink"], "/readyz")[1] == {
            "status": "ready",
            "checks": {"config": "ok", "kafka": "ok", "group": "ok"},
            "reason": "ok",
        }
        metrics = get(ports["source"], "/metrics")[1]
        assert isinstance(metrics, bytes)
        labels = f'bus="ops-{u}",kind="schedule",source="beat-{u}"'  # exposition sorts labels
        assert f'kbridge_source_state{{{labels},state="running"}} 1.0'.encode() in metrics
        assert f"kbridge_source_events_published_total{{{labels}}}".encode() in metrics
        assert b"kbridge_sink_" in get(ports["sink"], "/metrics")[1]  # type: ignore[operator]

        # --log-format json reaches Faust's, aiokafka's and mode's lines too (issue 17 item 5)
        faust_log = (tmp_path / "faust-1.log").read_text().splitlines()
        lines = [json.loads(x) for x in faust_log if not x.startswith("kbridge router:")]
        assert {x["process"] for x in lines} == {"router"}
        assert {x["logger"].split(".")[0] for x in lines} >= {"processor", "faust"}, lines

        private_kafka.run("stop")
        wait_all(ports, 503, 60, kbridge)
        for name, port in ports.items():
            _, body = get(port, "/readyz")
            assert isinstance(body, dict)
            if name == "gateway":  # checks its producer on each call, no grace period
                assert str(body["reason"]).startswith("Kafka not reachable"), body
            else:
                assert f"Kafka at {private_kafka.bootstrap} unreachable for" in str(body["reason"])
            assert get(port, "/healthz")[0] == 200  # alive: a restart would not bring Kafka back

        # the management API's status needs Kafka too: a clear 503, not a 500
        status, body = get(ports["gateway"], "/v1/status")
        assert status == 503, body
        assert isinstance(body, dict) and body["error"]["code"] == "kafka-unavailable", body

        private_kafka.run("start")
        wait_all(ports, 200, 120, kbridge)
        assert all(proc.poll() is None for proc in kbridge.processes), kbridge.logs()
    finally:
        kbridge.stop_all()
