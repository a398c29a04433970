"""`kbridge status` and GET /v1/status against a running pipeline (issue 17 item 3).

A router and two sink workers run as subprocesses on the shared broker; a third target has
no worker and a schedule source is not running. The numbers status reports are the ones the
test produced: lag 0 where workers caught up, lag N on the target nobody consumes, N dead
letters with the receiver's 400 as the last error, and exit code 1 naming each problem.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import yaml

from processor.events import CloudEvent, encode
from processor.kafka import KafkaClientConfig, Producer
from tests.support.kbridge import Kbridge, read_topic

pytestmark = [pytest.mark.kafka]

N = 12


class Receiver(http.server.BaseHTTPRequestHandler):
    """200 on /ok, 400 (a permanent failure: dead-lettered at once) on anything else."""

    ok: ClassVar[int] = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/ok":
            Receiver.ok += 1
            self.send_response(200)
        else:
            self.send_response(400)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[int]:
    Receiver.ok = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def produce(bootstrap: str, topic: str, n: int) -> None:
    producer = Producer(KafkaClientConfig(bootstrap_servers=bootstrap))
    records = []
    for i in range(n):
        event = CloudEvent(id=f"e-{i}", source="acme.test", type="ping", data={"i": i})
        rec = encode(event, "binary")
        records.append((topic, rec.value, rec.key, rec.headers))
    assert producer.send_batch(records).count(None) == n
    producer.close()


def status(kbridge: Kbridge, *args: str) -> tuple[int, Any]:
    result = kbridge.run("status", "--router-group", f"router-{kbridge.unique}", *args, check=False)
    assert "Traceback" not in result.stderr, result.stderr
    if "-o" in args and args[args.index("-o") + 1] == "table":
        return result.returncode, result.stdout
    loader = json.loads if "json" in args else yaml.safe_load
    return result.returncode, loader(result.stdout)


def until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_status_reports_what_the_pipeline_did(kbridge: Kbridge, receiver: int) -> None:
    u = kbridge.unique
    kbridge.apply(f"""
buses: [{{name: ops-{u}, partitions: 2}}]
targets:
  - {{name: ok-{u}, kind: webhook, url: "http://127.0.0.1:{receiver}/ok",
      allow_private_network: true}}
  - {{name: bad-{u}, kind: webhook, url: "http://127.0.0.1:{receiver}/bad",
      allow_private_network: true}}
  - {{name: idle-{u}, kind: webhook, url: "http://127.0.0.1:{receiver}/ok",
      allow_private_network: true}}
rules:
  - name: all-{u}
    bus: ops-{u}
    pattern: {{source: [acme.test]}}
    targets: [{{target: ok-{u}}}, {{target: bad-{u}}}, {{target: idle-{u}}}]
sources:
  - {{name: beat-{u}, kind: schedule, bus: ops-{u}, expression: rate(1 hour)}}
  - {{name: hook-{u}, kind: github, bus: ops-{u}, secret: s3cret}}
""")
    kbridge.start("router", "--engine", "native", "--group-id", f"router-{u}", name="router")
    kbridge.start("sink", f"ok-{u}", name="sink-ok")
    kbridge.start("sink", f"bad-{u}", name="sink-bad")
    gateway_port = free_port()
    kbridge.start("gateway", "--port", str(gateway_port), "--workers", "1", name="gateway")

    produce(kbridge.bootstrap, f"kbridge.bus.ops-{u}", N)
    until(lambda: Receiver.ok == N, 90, f"{N} deliveries to ok-{u}")
    # dead letters of a target go to kbridge.dlq.<target> (processor/kafka/topics.py)
    assert len(read_topic(kbridge.bootstrap, f"kbridge.dlq.bad-{u}", N, settle=0)) == N
    assert len(read_topic(kbridge.bootstrap, f"kbridge.target.idle-{u}", N, settle=0)) == N

    def settled() -> Any:  # the sinks' offset commits follow their deliveries shortly
        code, report = status(kbridge, "-o", "json")
        targets = {t["name"]: t for t in report["targets"]}
        done = targets[f"ok-{u}"]["sink"]["lag"] == 0 and targets[f"bad-{u}"]["sink"]["lag"] == 0
        return (code, report) if done and report["buses"][0]["router"]["lag"] == 0 else None

    code, report = until(settled, 60, "router and sink lag 0")
    assert code == 1  # idle target without a worker, schedule source not running
    assert report["healthy"] is False
    (bus,) = report["buses"]
    assert bus["name"] == f"ops-{u}"
    assert bus["router"] == {
        "group": f"router-{u}",
        "topic": f"kbridge.bus.ops-{u}",
        "members": 1,
        "state": "STABLE",
        "lag": 0,
        "partitions": 2,
    }
    targets = {t["name"]: t for t in report["targets"]}
    ok, bad, idle = targets[f"ok-{u}"], targets[f"bad-{u}"], targets[f"idle-{u}"]
    assert (ok["sink"]["members"], ok["sink"]["lag"], ok["dead_letters"]) == (1, 0, 0)
    assert ok["last_error"] is None
    assert (bad["sink"]["members"], bad["sink"]["lag"], bad["dead_letters"]) == (1, 0, N)
    assert "400" in bad["last_error"], bad
    assert bad["last_error_at"].startswith(time.strftime("%Y-%m-%d", time.gmtime()))
    assert (idle["sink"]["members"], idle["sink"]["lag"], idle["dead_letters"]) == (0, N, 0)
    sources = {s["name"]: s for s in report["sources"]}
    assert sources[f"beat-{u}"]["state"] == "not running"
    assert sources[f"hook-{u}"]["state"] == "served by the gateway"
    assert report["problems"] == [
        f"target idle-{u}: sink group kbridge-sink-idle-{u} has no members",
        f"source beat-{u}: not running (no group members)",
    ]

    # --max-lag below the idle target's backlog adds a problem; YAML carries the same report
    code, as_yaml = status(kbridge, "-o", "yaml", "--max-lag", str(N - 1))
    assert code == 1
    assert f"target idle-{u}: sink lag {N} > {N - 1}" in as_yaml["problems"]
    code, table = status(kbridge, "-o", "table")
    assert code == 1
    assert f"idle-{u}" in table and "UNHEALTHY" in table

    # the management API answers the same numbers
    def api() -> Any:
        try:
            url = f"http://127.0.0.1:{gateway_port}/v1/status?router_group=router-{u}"
            with urllib.request.urlopen(url, timeout=30) as response:
                return json.loads(response.read())
        except OSError:
            return None

    served = until(api, 60, "GET /v1/status")
    served_targets = {t["name"]: t for t in served["targets"]}
    assert served_targets[f"idle-{u}"]["sink"]["lag"] == N
    assert served_targets[f"bad-{u}"]["dead_letters"] == N
    assert served["problems"] == report["problems"]
