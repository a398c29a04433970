"""Router chaos at a reduced scale (issue 21's chaos suite, the router's share).

Events are produced steadily (each one acknowledged by Kafka: acks=all, idempotent) while
the router of one engine is killed with SIGKILL and later stopped with SIGTERM, each time
replaced by a fresh one, as a crash and a rolling restart would. Every acknowledged event
must reach the egress topic: lost must be 0. Duplicates are allowed (at-least-once) and
reported.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter

import pytest

from processor.kafka import KafkaClientConfig, Producer
from tests.e2e.conftest import Kbridge, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TOTAL = 6_000
RATE = 400.0  # ev/s offered: 15 s of load spanning both faults


def config_text(u: str) -> str:
    return f"""
buses: [{{name: chaos-{u}, partitions: 3}}]
targets: [{{name: out-{u}, kind: kafka, topic: "x-{u}", partitions: 3}}]
rules:
  - name: all-{u}
    bus: chaos-{u}
    pattern: {{source: [{{prefix: "chaos"}}]}}
    targets: [{{target: out-{u}}}]
"""


def offer(bootstrap: str, topic: str, acked: list[bytes], done: threading.Event) -> None:
    """Produce TOTAL events at RATE; ``acked`` collects the ids Kafka acknowledged."""
    producer = Producer(KafkaClientConfig(bootstrap_servers=bootstrap))
    lock = threading.Lock()

    def on_delivery(err: object, msg: object, event_id: bytes = b"") -> None:
        if err is None:
            with lock:
                acked.append(event_id)

    start = time.perf_counter()
    for i in range(TOTAL):
        delay = start + i / RATE - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        event_id = b"c-%d" % i
        producer.produce(
            topic,
            b'{"n": %d}' % i,
            b"k%d" % (i % 97),
            [
                ("ce_specversion", b"1.0"),
                ("ce_id", event_id),
                ("ce_source", b"chaos.test"),
                ("ce_type", b"tick"),
                ("content-type", b"application/json"),
            ],
            on_delivery=lambda err, msg, event_id=event_id: on_delivery(err, msg, event_id),
        )
    producer.close()
    done.set()


@pytest.mark.parametrize("engine", ["native", "faust"])
def test_router_kill_9_and_sigterm_under_load_lose_nothing(kbridge: Kbridge, engine: str) -> None:
    u = kbridge.unique
    bus, egress = f"kbridge.bus.chaos-{u}", f"kbridge.target.out-{u}"
    kbridge.apply(config_text(u))
    args = ["router", "--engine", engine, "--group-id", f"chaos-{u}"]
    first = kbridge.start(*args, name="router")
    acked: list[bytes] = []
    done = threading.Event()
    load = threading.Thread(target=offer, args=(kbridge.bootstrap, bus, acked, done))
    load.start()

    time.sleep(4)
    first.send_signal(signal.SIGKILL)  # crash mid-load
    first.wait()
    second = kbridge.start(*args, name="router")
    time.sleep(6)
    second.send_signal(signal.SIGTERM)  # rolling restart mid-load
    assert second.wait(timeout=60) is not None
    kbridge.start(*args, name="router")
    load.join(timeout=120)
    assert done.is_set(), "the load finished"

    records = read_topic(kbridge.bootstrap, egress, len(acked), timeout=180, settle=3)
    delivered = Counter(dict(m.headers())["ce_id"] for m in records)
    lost = set(acked) - set(delivered)
    duplicates = sum(n - 1 for n in delivered.values())
    print(
        f"\n{engine}: acked {len(acked)}, delivered {len(delivered)} unique, "
        f"lost {len(lost)}, duplicates {duplicates}"
    )
    assert len(acked) == TOTAL
    assert not lost, f"{len(lost)} acked events lost, e.g. {sorted(lost)[:5]}\n{kbridge.logs()}"
