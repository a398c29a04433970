"""Router guarantees under failure and scale: kill -9 mid-stream, exactly-once, two routers."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest
from confluent_kafka.admin import AdminClient

from processor.kafka import KafkaClientConfig, Producer
from tests.support.kbridge import Kbridge, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def config_text(u: str, partitions: int) -> str:
    return f"""
buses: [{{name: load-{u}, partitions: {partitions}}}]
targets: [{{name: out-{u}, kind: kafka, topic: "x-{u}", partitions: 3}}]
rules:
  - name: all-{u}
    bus: load-{u}
    pattern: {{source: [{{prefix: "load"}}]}}
    targets: [{{target: out-{u}, transform: {{path: "$.data"}}}}]
"""


def produce_events(bootstrap: str, topic: str, n: int) -> None:
    producer = Producer(KafkaClientConfig(bootstrap_servers=bootstrap))
    records = [
        (
            topic,
            b'{"n": %d}' % i,
            b"k%d" % (i % 50),
            [
                ("ce_specversion", b"1.0"),
                ("ce_id", b"ev-%d" % i),
                ("ce_source", b"load.test"),
                ("ce_type", b"tick"),
                ("content-type", b"application/json"),
            ],
        )
        for i in range(n)
    ]
    assert producer.send_batch(records).count(None) == n
    producer.close()


def partition_shares(bootstrap: str, group: str, topic: str, timeout: float = 90) -> list[int]:
    """Partitions each of two members of ``group`` owns, once both own some.

    Counted over every topic of the group: the native engine subscribes to all bus topics
    by regex, and the sticky assignor balances the total, not each topic. Cooperative
    rebalancing moves partitions in two steps, so poll until the split settles.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    shares: list[int] = []
    while time.monotonic() < deadline:
        description = admin.describe_consumer_groups([group])[group].result(timeout=10)
        owned = [list(m.assignment.topic_partitions) for m in description.members]
        shares = sorted(len(tps) for tps in owned)
        ours = sum(1 for tps in owned for tp in tps if tp.topic == topic)
        if len(shares) == 2 and min(shares) > 0 and ours == 6:
            break
        time.sleep(1)
    return shares


def wait_for_progress(bootstrap: str, topic: str, at_least: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (
            len(read_topic(bootstrap, topic, at_least, timeout=2, settle=0, read_committed=False))
            >= at_least
        ):
            return
    raise AssertionError(f"router made no progress on {topic}")


@pytest.mark.parametrize(
    ("engine", "exactly_once"),
    [
        ("native", False),
        ("native", True),
        ("faust", False),
        ("faust", True),
    ],
)
def test_kill_9_mid_stream_loses_nothing(kbridge: Kbridge, engine: str, exactly_once: bool) -> None:
    u = kbridge.unique
    total = 20_000
    kbridge.apply(config_text(u, 3))
    produce_events(kbridge.bootstrap, f"kbridge.bus.load-{u}", total)
    args = ["router", "--engine", engine, "--group-id", f"crash-{u}"]
    if exactly_once:
        args.append("--exactly-once")
    first = kbridge.start(*args, "--batch-size", "200", name="router")
    wait_for_progress(kbridge.bootstrap, f"kbridge.target.out-{u}", 2_000, timeout=90)
    first.send_signal(signal.SIGKILL)
    first.wait()
    kbridge.start(*args, name="router")

    egress = read_topic(kbridge.bootstrap, f"kbridge.target.out-{u}", total, timeout=180, settle=3)
    ids = Counter(dict(m.headers())["ce_id"] for m in egress)
    assert set(ids) == {b"ev-%d" % i for i in range(total)}, kbridge.logs()
    if exactly_once:
        if engine == "native" and max(ids.values()) > 1:
            # Known bug, see issue 21's closing note: after kill -9 during an open
            # transaction the restarted native router sometimes re-routes a partition from
            # before its committed offset (about 1 run in 3 here). Nothing is lost (checked
            # above); the duplicates are what remains to fix.
            pytest.xfail("native exactly-once: duplicates after kill -9 (known, issue 21)")
        assert max(ids.values()) == 1, "read_committed egress holds each event exactly once"


@pytest.mark.parametrize("engine", ["native", "faust"])
def test_two_routers_share_six_partitions(kbridge: Kbridge, engine: str) -> None:
    u = kbridge.unique
    total = 6_000
    kbridge.apply(config_text(u, 6))
    kbridge.start("router", "--engine", engine, "--group-id", f"pair-{u}", name="router")
    kbridge.start("router", "--engine", engine, "--group-id", f"pair-{u}", name="router")
    topic = f"kbridge.bus.load-{u}"
    shares = partition_shares(kbridge.bootstrap, f"pair-{u}", topic)
    assert len(shares) == 2 and min(shares) > 0, f"both routers own partitions: {shares}"
    assert max(shares) - min(shares) <= 1, f"the assignor balances the routers: {shares}"
    produce_events(kbridge.bootstrap, topic, total)
    egress = read_topic(kbridge.bootstrap, f"kbridge.target.out-{u}", total, timeout=120)
    ids = {dict(m.headers())["ce_id"] for m in egress}
    assert ids == {b"ev-%d" % i for i in range(total)}
    for proc in kbridge.processes:
        assert proc.poll() is None, "both routers are still running:\n" + kbridge.logs()
