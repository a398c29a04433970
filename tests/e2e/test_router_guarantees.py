"""Router guarantees under failure and scale: kill -9 mid-stream, exactly-once, two routers."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from confluent_kafka import Producer as RdProducer
from confluent_kafka.admin import AdminClient, NewTopic

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


def produce_events(bootstrap: str, topic: str, n: int, start: int = 0) -> None:
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
        for i in range(start, start + n)
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
        # settled: both own some, all six of ours are assigned, and the split is even (a
        # bus topic another test creates meanwhile unbalances it until the next rebalance)
        if len(shares) == 2 and min(shares) > 0 and ours == 6 and shares[1] - shares[0] <= 1:
            break
        time.sleep(0.2)
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
        duplicates = sorted((n, i) for i, n in ids.items() if n > 1)[-3:]
        assert not duplicates, f"read_committed egress holds each event once: {duplicates}"


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


ZOMBIE = r"""
import sys, time
from confluent_kafka import Consumer, Producer, TopicPartition
bootstrap, bus, egress, group, committed, pending = sys.argv[1:7]
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "enable.auto.commit": False, "session.timeout.ms": 6000,
                     "partition.assignment.strategy": "cooperative-sticky"})
consumer.subscribe([bus])
while not consumer.assignment():
    consumer.poll(0.2)
producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "zombie-" + group,
                     "transaction.timeout.ms": 20000})
producer.init_transactions(30)
producer.begin_transaction()
producer.send_offsets_to_transaction(
    [TopicPartition(bus, 0, int(committed))], consumer.consumer_group_metadata(), 30)
producer.commit_transaction(30)
producer.begin_transaction()
producer.produce(egress, b"never committed")
producer.flush(30)
producer.send_offsets_to_transaction(
    [TopicPartition(bus, 0, int(pending))], consumer.consumer_group_metadata(), 30)
print("open", flush=True)
time.sleep(600)
"""
"""A router killed inside a transaction, reduced to what matters: a member of the group
whose first transaction committed the bus offset ``committed`` and whose second one (one
egress record, the offset ``pending``) is still open when it is killed."""


def test_native_exactly_once_resumes_at_the_committed_offset_after_a_crash(
    kbridge: Kbridge,
) -> None:
    """The restarted router neither re-routes below the committed offset nor skips.

    Found in issue 21 (kill -9 test: 1,800 duplicates in 3 of 5 runs): while a killed
    router's transaction holds the group's offsets, librdkafka retries the new member's
    offset fetch (UNSTABLE_OFFSET_COMMIT, KIP-447 require_stable); if the member's
    assignment changes meanwhile -- any new kbridge.bus.* topic does, the router subscribes
    by regex -- it starts the partition at auto.offset.reset (the beginning) instead of
    waiting (librdkafka src/rdkafka_assignment.c, rd_kafka_assignment_apply_offsets).
    New bus topics are created during that wait here to make the assignment change.
    """
    u = kbridge.unique
    total, committed, pending = 300, 100, 200
    kbridge.apply(config_text(u, 1))
    bus, egress = f"kbridge.bus.load-{u}", f"kbridge.target.out-{u}"
    group = f"zombie-{u}"
    produce_events(kbridge.bootstrap, bus, total)
    offsets = [str(committed), str(pending)]
    zombie = subprocess.Popen(
        [sys.executable, "-c", ZOMBIE, kbridge.bootstrap, bus, egress, group, *offsets],
        stdout=subprocess.PIPE,
    )
    assert zombie.stdout is not None and zombie.stdout.readline() == b"open\n"
    zombie.send_signal(signal.SIGKILL)
    zombie.wait()
    zombie.stdout.close()
    opened = time.monotonic()

    kbridge.start(
        "router", "--engine", "native", "--exactly-once", "--group-id", group, name="router"
    )
    admin = AdminClient({"bootstrap.servers": kbridge.bootstrap})
    late = [f"kbridge.bus.late{i}-{u}" for i in range(8)]
    try:
        # assignment changes while the zombie's offsets are unstable: 8 over ~16 s, within
        # its 20 s transaction timeout (the broker aborts it after that, up to 10 s later)
        for topic in late:
            admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
            time.sleep(2)
        records = read_topic(kbridge.bootstrap, egress, total - committed, timeout=120, settle=3)
    finally:
        for future in admin.delete_topics(late).values():
            future.exception(timeout=30)
    ids = Counter(dict(m.headers())["ce_id"] for m in records)
    routed_by_zombie = {b"ev-%d" % i for i in range(committed)} & set(ids)
    assert not routed_by_zombie, (
        f"{len(routed_by_zombie)} events below the committed offset {committed} routed again "
        f"({time.monotonic() - opened:.0f} s after the crash)\n" + kbridge.logs()
    )
    assert set(ids) == {b"ev-%d" % i for i in range(committed, total)}, kbridge.logs()
    assert max(ids.values()) == 1, "each event once in the read_committed egress"


def test_native_exactly_once_replaces_a_fenced_producer(kbridge: Kbridge) -> None:
    """A fenced transactional producer is replaced; its batch is routed once by the new one.

    librdkafka never recovers a fenced producer (a fatal error: the coordinator aborted a
    transaction that outlived --transaction-timeout, or another producer took over the
    transactional.id); before, the router retried with it forever. The fence is made here
    the second way: a producer with the router's transactional.id (from its log line)
    calls init_transactions, which bumps the epoch (KIP-98).
    """
    u = kbridge.unique
    kbridge.apply(config_text(u, 1))
    bus, egress = f"kbridge.bus.load-{u}", f"kbridge.target.out-{u}"
    kbridge.start(
        "router", "--engine", "native", "--exactly-once", "--group-id", f"fence-{u}", name="router"
    )
    produce_events(kbridge.bootstrap, bus, 100)
    assert len(read_topic(kbridge.bootstrap, egress, 100, timeout=90, settle=0)) >= 100
    log = next(kbridge.tmp.glob("router-*.log"))
    found = re.search(r"transactional producer (\S+) ready", log.read_text())
    assert found, kbridge.logs()
    fencer = RdProducer({"bootstrap.servers": kbridge.bootstrap, "transactional.id": found[1]})
    fencer.init_transactions(30)

    produce_events(kbridge.bootstrap, bus, 100, start=100)
    records = read_topic(kbridge.bootstrap, egress, 200, timeout=90, settle=2)
    ids = Counter(dict(m.headers())["ce_id"] for m in records)
    assert set(ids) == {b"ev-%d" % i for i in range(200)}, kbridge.logs()
    assert max(ids.values()) == 1, "each event once in the read_committed egress"
    text = log.read_text()
    assert "replacing the transactional producer" in text, text[-3000:]
    assert len(re.findall(r"transactional producer \S+ ready", text)) == 2, text[-3000:]
    for proc in kbridge.processes:
        assert proc.poll() is None, "the router is still running:\n" + kbridge.logs()
