"""Router reliability (issue 21): no silent loss on shutdown, no stall on an unwritable target.

Both engines run as `kbridge router` subprocesses against the real broker. An unwritable
target is made the way an operator would leave one: its egress topic is missing (deleted,
or never created by `apply --no-create-topics`).
"""

from __future__ import annotations

import signal
import time

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from processor.kafka import KafkaClientConfig, Producer
from processor.kafka.admin import TopicSpec, delete_topics, ensure_topics
from tests.support.kbridge import Kbridge, read_topic

pytestmark = [pytest.mark.kafka]


def config_text(u: str, partitions: int = 1) -> str:
    return f"""
buses: [{{name: rel-{u}, partitions: {partitions}}}]
targets:
  - {{name: gone-{u}, kind: kafka, topic: "x-gone-{u}", partitions: 1}}
  - {{name: live-{u}, kind: kafka, topic: "x-live-{u}", partitions: 1}}
rules:
  - name: to-gone-{u}
    bus: rel-{u}
    pattern: {{source: [{{prefix: "rel"}}], data: {{to: [gone]}}}}
    targets: [{{target: gone-{u}}}]
  - name: to-live-{u}
    bus: rel-{u}
    pattern: {{source: [{{prefix: "rel"}}]}}
    targets: [{{target: live-{u}}}]
"""


def send(bootstrap: str, topic: str, ids: list[str], to: str = "live") -> None:
    producer = Producer(KafkaClientConfig(bootstrap_servers=bootstrap))
    records = [
        (
            topic,
            b'{"to": "%s"}' % to.encode(),
            event_id.encode(),
            [
                ("ce_specversion", b"1.0"),
                ("ce_id", event_id.encode()),
                ("ce_source", b"rel.test"),
                ("ce_type", b"tick"),
                ("content-type", b"application/json"),
            ],
        )
        for event_id in ids
    ]
    assert producer.send_batch(records).count(None) == len(ids)
    producer.close()


def wait_assigned(bootstrap: str, group: str, topic: str, timeout: float = 90) -> None:
    """Until a member of ``group`` owns a partition of ``topic`` (the router is consuming)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        description = admin.describe_consumer_groups([group])[group].result(timeout=10)
        if any(
            tp.topic == topic for m in description.members for tp in m.assignment.topic_partitions
        ):
            return
        time.sleep(0.5)
    raise AssertionError(f"no router of {group} was assigned {topic}")


def caught_up(kbridge: Kbridge, u: str) -> None:
    """Until one event went through to the live target: the router is past any backlog.

    The native engine's regex subscription reads every bus topic on the shared test broker
    from the beginning (a new group), which can take a while before it reaches ours.
    """
    send(kbridge.bootstrap, f"kbridge.bus.rel-{u}", ["warm-up"])
    assert read_topic(kbridge.bootstrap, f"kbridge.target.live-{u}", 1, timeout=180, settle=0)


def ids_of(records: list) -> set[bytes]:  # type: ignore[type-arg]
    return {dict(m.headers())["ce_id"] for m in records}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["faust"])
def test_sigterm_with_a_pending_egress_send_loses_nothing(kbridge: Kbridge, engine: str) -> None:
    """Issue 21 item 1: stop the router while a send to a missing topic is pending.

    Before the fix the Faust engine acked (and committed) the event on shutdown: after a
    restart and the topic's return it was in neither the egress nor the dead-letter topic.
    (The native engine, never affected, is stopped under load by bench/chaos.py.)
    """
    u = kbridge.unique
    bus, gone = f"kbridge.bus.rel-{u}", f"kbridge.target.gone-{u}"
    kbridge.apply(config_text(u))
    kafka = KafkaClientConfig(bootstrap_servers=kbridge.bootstrap)
    delete_topics(kafka, [gone])
    # long enough that the event is still held (not yet dead-lettered) at SIGTERM
    kbridge.env["KBRIDGE_ROUTER_UNWRITABLE_TIMEOUT"] = "300"
    args = ["router", "--engine", engine, "--group-id", f"stop-{u}"]
    first = kbridge.start(*args, name="router")
    wait_assigned(kbridge.bootstrap, f"stop-{u}", bus)
    caught_up(kbridge, u)
    send(kbridge.bootstrap, bus, ["pending-1"], to="gone")
    time.sleep(4)  # the router picked the event up; its send to the missing topic is pending
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) is not None
    ensure_topics(kafka, [TopicSpec(gone, 1)])
    kbridge.start(*args, name="router")

    egress = read_topic(kbridge.bootstrap, gone, 1, timeout=90, settle=0)
    assert b"pending-1" in ids_of(egress), kbridge.logs()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["native", "faust"])
def test_unwritable_target_is_held_then_dead_lettered_while_others_flow(
    kbridge: Kbridge, engine: str
) -> None:
    """Issue 21 item 2: one target's missing egress topic stalls nothing else.

    The event for the missing topic is held for the configured time, then written to the
    bus's dead-letter topic with stage ``produce``; the other target on the same bus (and
    the same partition) receives every event meanwhile, and once the topic exists again
    the target is written as before.
    """
    u = kbridge.unique
    bus, gone = f"kbridge.bus.rel-{u}", f"kbridge.target.gone-{u}"
    live = f"kbridge.target.live-{u}"
    kbridge.apply(config_text(u))
    kafka = KafkaClientConfig(bootstrap_servers=kbridge.bootstrap)
    delete_topics(kafka, [gone])
    # the documented hold (docs/operations.md, KBRIDGE_ROUTER_UNWRITABLE_TIMEOUT), 20 s to
    # keep the test short; the others must flow within 15 s (as before with a 30 s hold:
    # the native router's first failed send to the missing topic takes a few seconds on
    # two busy cores), well before the held event is dead-lettered at 18-20 s
    timeout = 20.0
    flow_within = 15.0
    kbridge.env["KBRIDGE_ROUTER_UNWRITABLE_TIMEOUT"] = str(timeout)
    kbridge.start("router", "--engine", engine, "--group-id", f"held-{u}", name="router")
    wait_assigned(kbridge.bootstrap, f"held-{u}", bus)
    caught_up(kbridge, u)

    sent_at = time.monotonic()
    send(kbridge.bootstrap, bus, ["held-1"], to="gone")
    send(kbridge.bootstrap, bus, [f"after-{i}" for i in range(20)])
    flowing = read_topic(kbridge.bootstrap, live, 22, timeout=flow_within, settle=0)
    expected = {b"warm-up", b"held-1"} | {b"after-%d" % i for i in range(20)}
    assert ids_of(flowing) == expected, (
        "the other target on the same bus kept receiving while one target was held:\n"
        + kbridge.logs()
    )
    assert time.monotonic() - sent_at < flow_within

    letters = read_topic(kbridge.bootstrap, f"{bus}.dlq", 1, timeout=timeout + 30, settle=0)
    assert time.monotonic() - sent_at >= timeout * 0.9, "held for the configured time first"
    assert [dict(m.headers())["ce_id"] for m in letters] == [b"held-1"], kbridge.logs()
    headers = dict(letters[0].headers())
    assert headers["kbridge-failed-stage"] == b"produce"
    assert headers["kbridge-error-code"] == b"target-unwritable"
    assert headers["kbridge-target"] == f"gone-{u}".encode()
    assert gone.encode() in headers["kbridge-error-message"]
    assert letters[0].value() == b'{"to": "gone"}', "the original bytes are dead-lettered"

    ensure_topics(kafka, [TopicSpec(gone, 1)])
    time.sleep(3)  # the router probes an unwritable topic once a second
    send(kbridge.bootstrap, bus, ["back-1"], to="gone")
    egress = read_topic(kbridge.bootstrap, gone, 1, timeout=60, settle=0)
    assert ids_of(egress) == {b"back-1"}, kbridge.logs()


def _replication(bootstrap: str, topic: str) -> int:
    meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    return len(meta.topics[topic].partitions[0].replicas)


def _broker_default_replication(bootstrap: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    broker = next(iter(admin.list_topics(timeout=10).brokers))
    resource = ConfigResource(ConfigResource.Type.BROKER, str(broker))
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    return int(configs["default.replication.factor"].value)


def test_apply_uses_the_brokers_replication_factor_unless_set(kbridge: Kbridge) -> None:
    """Issue 21 item 7: no KBRIDGE_REPLICATION_FACTOR -> the broker's default applies.

    The single test broker's default is 1, so the override is proven by asking for more
    replicas than it has: a clear error naming the topic, not a silent factor of 1.
    """
    u = kbridge.unique
    kbridge.env.pop("KBRIDGE_REPLICATION_FACTOR", None)
    kbridge.apply(config_text(u))
    default = _broker_default_replication(kbridge.bootstrap)
    for topic in (f"kbridge.bus.rel-{u}", f"kbridge.target.live-{u}", f"kbridge.dlq.live-{u}"):
        assert _replication(kbridge.bootstrap, topic) == default

    kbridge.env["KBRIDGE_REPLICATION_FACTOR"] = "2"
    result = kbridge.run("apply", "-f", _write(kbridge, config_text(f"{u}b")), check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"kbridge.bus.rel-{u}b" in result.stdout + result.stderr
    assert "replication" in (result.stdout + result.stderr).lower()


def _write(kbridge: Kbridge, text: str) -> str:
    path = kbridge.tmp / f"rf-{time.monotonic_ns()}.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.slow
def test_faust_stops_without_committing_when_a_batch_fails(kbridge: Kbridge) -> None:
    """An error that is no target's condition (here: the bus's own dead-letter topic is
    missing) stops the Faust worker instead of an agent restart that would carry on past
    the batch; after the topic is back, a restarted router dead-letters the record."""
    u = kbridge.unique
    bus = f"kbridge.bus.rel-{u}"
    kbridge.apply(config_text(u))
    kafka = KafkaClientConfig(bootstrap_servers=kbridge.bootstrap)
    delete_topics(kafka, [f"{bus}.dlq"])
    args = ["router", "--engine", "faust", "--group-id", f"crash-{u}"]
    first = kbridge.start(*args, name="router")
    wait_assigned(kbridge.bootstrap, f"crash-{u}", bus)
    producer = Producer(kafka)
    producer.send_and_wait(bus, b"not json", b"k", [("ce_id", b"bad-1")])
    producer.close()
    assert first.wait(timeout=60) != 0, "the worker stopped with an error status"

    ensure_topics(kafka, [TopicSpec(f"{bus}.dlq", 1)])
    kbridge.start(*args, name="router")
    letters = read_topic(kbridge.bootstrap, f"{bus}.dlq", 1, timeout=90, settle=0)
    assert [dict(m.headers()).get("ce_id") for m in letters] == [b"bad-1"], kbridge.logs()
    assert dict(letters[0].headers())["kbridge-failed-stage"] == b"decode"


@pytest.mark.slow
def test_native_waits_for_the_configuration_of_a_new_bus(kbridge: Kbridge) -> None:
    """Events on a bus topic the native router sees before the bus's configuration reaches
    it are routed once it does (before: read, found no bus, committed — lost)."""
    u = kbridge.unique
    kbridge.apply(config_text(u))
    kbridge.start("router", "--engine", "native", "--group-id", f"park-{u}", name="router")
    caught_up(kbridge, u)
    early = f"kbridge.bus.early-{u}"
    kafka = KafkaClientConfig(bootstrap_servers=kbridge.bootstrap)
    ensure_topics(kafka, [TopicSpec(early, 1)])  # the topic exists, its bus is not applied yet
    wait_assigned(kbridge.bootstrap, f"park-{u}", early)
    send(kbridge.bootstrap, early, ["early-1", "early-2"])
    time.sleep(3)  # the router has read them by now
    rule = f"""
  - name: early-{u}
    bus: early-{u}
    pattern: {{source: [{{prefix: "rel"}}]}}
    targets: [{{target: live-{u}}}]
"""
    text = config_text(u) + rule
    kbridge.apply(text.replace("buses: [", f"buses: [{{name: early-{u}, partitions: 1}}, "))
    egress = read_topic(kbridge.bootstrap, f"kbridge.target.live-{u}", 3, timeout=60, settle=1)
    assert {b"early-1", b"early-2"} <= ids_of(egress), kbridge.logs()
