"""`kbridge replay` re-sends archived events to one rule; the router serves Prometheus metrics."""

from __future__ import annotations

import socket
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.test_router_guarantees import produce_events
from tests.support.kbridge import Kbridge, read_topic

pytestmark = [pytest.mark.kafka]


def two_rule_config(u: str) -> str:
    return f"""
buses: [{{name: arc-{u}, partitions: 2, retention: 1d}}]
targets:
  - {{name: a-{u}, kind: kafka, topic: "a-{u}"}}
  - {{name: b-{u}, kind: kafka, topic: "b-{u}"}}
rules:
  - {{name: ra-{u}, bus: arc-{u}, pattern: {{source: [load.test]}}, targets: [{{target: a-{u}}}]}}
  - {{name: rb-{u}, bus: arc-{u}, pattern: {{type: [tick]}}, targets: [{{target: b-{u}}}]}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_replay_one_rule_and_metrics(kbridge: Kbridge) -> None:
    u = kbridge.unique
    kbridge.apply(two_rule_config(u))
    port = free_port()
    kbridge.start(
        "router",
        "--engine",
        "native",
        "--group-id",
        f"rp-{u}",
        "--metrics-port",
        str(port),
        name="router",
    )
    start = datetime.now(UTC) - timedelta(seconds=1)
    produce_events(kbridge.bootstrap, f"kbridge.bus.arc-{u}", 100)
    assert len(read_topic(kbridge.bootstrap, f"kbridge.target.a-{u}", 100)) == 100
    assert len(read_topic(kbridge.bootstrap, f"kbridge.target.b-{u}", 100)) == 100
    end = datetime.now(UTC) + timedelta(seconds=1)

    result = kbridge.run(
        "replay",
        "--bus",
        f"arc-{u}",
        "--from",
        start.isoformat(),
        "--to",
        end.isoformat(),
        "--rule",
        f"ra-{u}",
    )
    assert "replayed 100 events" in result.stdout

    a = read_topic(kbridge.bootstrap, f"kbridge.target.a-{u}", 200, settle=2)
    b = read_topic(kbridge.bootstrap, f"kbridge.target.b-{u}", 100, settle=2)
    assert len(a) == 200, "rule ra sees the replayed events again"
    assert len(b) == 100, "rule rb does not"
    replayed = [m for m in a if "kbridge-replay" in dict(m.headers())]
    assert len(replayed) == 100
    assert {dict(m.headers())["ce_id"] for m in replayed} == {b"ev-%d" % i for i in range(100)}

    body = ""
    for _ in range(20):
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        if f'kbridge_router_events_received_total{{bus="arc-{u}"}} 200.0' in body:
            break
        time.sleep(0.5)
    assert f'kbridge_router_events_received_total{{bus="arc-{u}"}} 200.0' in body
    assert (
        f'kbridge_router_events_routed_total{{bus="arc-{u}",rule="ra-{u}",target="a-{u}"}} 200.0'
        in body
    )
    assert f'kbridge_router_events_matched_total{{bus="arc-{u}",rule="rb-{u}"}} 100.0' in body
    assert "kbridge_router_latency_seconds_bucket" in body


def test_replay_rejects_bad_times(kbridge: Kbridge) -> None:
    result = kbridge.run("replay", "--bus", "nope", "--from", "yesterday", check=False)
    assert result.returncode == 2
    assert "ISO 8601" in result.stderr
