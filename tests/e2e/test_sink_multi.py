"""`kbridge sink --all`: several targets in one process, each isolated (issue 17 item 1).

A router and one `kbridge sink --all` process on the shared broker. Target a's latency is
measured first while target hang's receiver answers at once (the baseline), then while every
request to hang blocks: a's latency stays within noise of the baseline and all of a's events
arrive. A target added to the live configuration gets a worker in the same process without
a restart, and a removed one loses it (its consumer group empties).
"""

from __future__ import annotations

import http.server
import json
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from processor.events import CloudEvent, encode
from processor.kafka import KafkaClientConfig, Producer
from processor.status.collect import Inspector
from tests.support.kbridge import Kbridge

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


class Receiver(http.server.BaseHTTPRequestHandler):
    """Records (path, latency) per request; /hang blocks while ``hanging`` is set."""

    latencies: ClassVar[dict[str, list[float]]] = {}
    hanging = threading.Event()
    release = threading.Event()
    in_hang = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        path = self.path.strip("/")
        if path == "hang" and Receiver.hanging.is_set():
            Receiver.in_hang += 1
            Receiver.release.wait(60)
        Receiver.latencies.setdefault(path, []).append(time.time() - body["sent"])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[int]:
    Receiver.latencies = {}
    Receiver.hanging.clear()
    Receiver.release.clear()
    Receiver.in_hang = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        Receiver.release.set()
        server.shutdown()


def config(u: str, port: int, targets: list[str]) -> str:
    lines = [f"buses: [{{name: ops-{u}, partitions: 2}}]", "targets:"]
    for t in targets:
        lines.append(
            f'  - {{name: {t}-{u}, kind: webhook, url: "http://127.0.0.1:{port}/{t}", '
            f"allow_private_network: true, timeout: 60}}"
        )
    lines.append("rules:")
    for t in targets:
        lines.append(
            f"  - {{name: to-{t}-{u}, bus: ops-{u}, pattern: {{source: [acme.test]}}, "
            f'targets: [{{target: {t}-{u}, transform: {{path: "$.data"}}}}]}}'
        )
    return "\n".join(lines) + "\n"


def send(bootstrap: str, topic: str, n: int, *, pace: float = 0.02) -> None:
    producer = Producer(KafkaClientConfig(bootstrap_servers=bootstrap))
    for _ in range(n):
        event = CloudEvent(
            id=f"e-{time.monotonic_ns()}", source="acme.test", type="t", data={"sent": time.time()}
        )
        rec = encode(event, "binary")
        assert producer.send_batch([(topic, rec.value, rec.key, rec.headers)]) == [None]
        time.sleep(pace)
    producer.close()


def until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {Receiver.latencies.keys()}")


def count(path: str) -> int:
    return len(Receiver.latencies.get(path, []))


def test_one_process_many_targets_isolated_and_live(kbridge: Kbridge, receiver: int) -> None:
    u = kbridge.unique
    bus = f"kbridge.bus.ops-{u}"
    kbridge.apply(config(u, receiver, ["a", "hang"]))
    kbridge.start("router", "--engine", "native", "--group-id", f"router-{u}", name="router")
    kbridge.start("sink", "--all", name="sinks")

    # warm-up: both workers joined and delivering
    send(kbridge.bootstrap, bus, 5)
    until(lambda: count("a") == 5 and count("hang") == 5, 90, "warm-up deliveries")

    n = 40
    send(kbridge.bootstrap, bus, n)
    until(lambda: count("a") == 5 + n and count("hang") == 5 + n, 60, "baseline deliveries")
    baseline = statistics.median(Receiver.latencies["a"][5:])

    Receiver.hanging.set()  # every request to hang now blocks (60 s timeout, held)
    started = time.monotonic()
    send(kbridge.bootstrap, bus, n)
    until(lambda: count("a") == 5 + 2 * n, 60, "a's deliveries while hang hangs")
    took = time.monotonic() - started
    under_hang = statistics.median(Receiver.latencies["a"][5 + n :])
    print(
        f"a p50 latency: {baseline * 1000:.1f} ms alone, {under_hang * 1000:.1f} ms beside "
        f"a hanging target ({Receiver.in_hang} held); {n} events in {took:.1f} s"
    )
    assert Receiver.in_hang >= 1  # hang's worker really is stuck in a request
    assert under_hang <= 2 * baseline + 0.25, (baseline, under_hang)
    assert took < n * 0.02 + 10  # throughput: sending pace plus slack, not hang's timeout

    # live add: a new target gets a worker in the same process
    rebuilt = kbridge.log_count("routing table rebuilt", "router")
    kbridge.apply(config(u, receiver, ["a", "hang", "b"]))
    inspector = Inspector(KafkaClientConfig(bootstrap_servers=kbridge.bootstrap))
    until(
        lambda: inspector.group(f"kbridge-sink-b-{u}", f"kbridge.target.b-{u}").members == 1,
        60,
        "b's worker joined its group",
    )
    # the router follows the same change (target b and its rule: a rebuild for each)
    kbridge.wait_for_log("routing table rebuilt", "router", rebuilt + 2)
    send(kbridge.bootstrap, bus, 10)
    until(lambda: count("b") >= 10, 60, "deliveries to the added target")

    # live remove: its worker stops (group empty), the others keep delivering
    Receiver.release.set()
    kbridge.apply(config(u, receiver, ["a", "hang"]), "--prune")
    until(
        lambda: inspector.group(f"kbridge-sink-b-{u}", f"kbridge.target.b-{u}").members == 0,
        60,
        "b's worker left its group",
    )
    before = count("a")
    send(kbridge.bootstrap, bus, 5)
    until(lambda: count("a") == before + 5, 60, "a still delivering")
    assert all(p.poll() is None for p in kbridge.processes), kbridge.logs()
