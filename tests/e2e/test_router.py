"""The router end to end, for both engines: `kbridge apply`, `kbridge router` as a subprocess,
events in binary and structured mode, egress and dead-letter topics read back, live rules."""

from __future__ import annotations

import pytest

from processor.events import CloudEvent, decode, encode
from processor.kafka import KafkaClientConfig, Producer
from tests.support.kbridge import Kbridge, read_topic

pytestmark = [pytest.mark.kafka]

REBUILT = "routing table rebuilt"
"""The router's log line after it applied a configuration change (processor/router/live.py)."""


def config_text(u: str, *, extra_rule: bool = False) -> str:
    text = f"""
buses: [{{name: ops-{u}, partitions: 3}}]
targets:
  - {{name: pager-{u}, kind: webhook, url: "http://127.0.0.1:9/", allow_private_network: true}}
  - {{name: arch-{u}, kind: kafka, topic: "archive-{u}", format: structured}}
rules:
  - name: critical-{u}
    bus: ops-{u}
    pattern: {{type: [alarm], data: {{severity: [critical]}}}}
    targets:
      - target: pager-{u}
        transform: {{input_paths: {{host: "$.data.host"}}, input_template: "host <host> is down"}}
      - target: arch-{u}
"""
    if extra_rule:
        text += f"""
  - name: warnings-{u}
    bus: ops-{u}
    pattern: {{data: {{severity: [warning]}}}}
    targets: [{{target: arch-{u}, transform: {{path: "$.data"}}}}]
"""
    return text


def alarms(n: int, severity: str, *, start: int = 0) -> list[CloudEvent]:
    return [
        CloudEvent(
            id=f"{severity}-{i}",
            source="cloud.monitor",
            type="alarm",
            subject=f"host-{i % 7}",
            datacontenttype="application/json",
            data={"severity": severity, "host": f"db-{i}"},
        )
        for i in range(start, start + n)
    ]


def produce(bootstrap: str, topic: str, events: list[CloudEvent], mode: str = "binary") -> None:
    producer = Producer(KafkaClientConfig(bootstrap_servers=bootstrap))
    records = []
    for event in events:
        rec = encode(event, mode)  # type: ignore[arg-type]
        records.append((topic, rec.value, rec.key, rec.headers))
    assert producer.send_batch(records).count(None) == len(records)
    producer.close()


@pytest.mark.parametrize("engine", ["native", "faust"])
def test_router_end_to_end(kbridge: Kbridge, engine: str) -> None:
    u = kbridge.unique
    bootstrap = kbridge.bootstrap
    bus_topic = f"kbridge.bus.ops-{u}"
    kbridge.apply(config_text(u))
    kbridge.start("router", "--engine", engine, "--group-id", f"router-{u}", name="router")

    produce(bootstrap, bus_topic, alarms(50, "critical") + alarms(50, "info"))
    produce(bootstrap, bus_topic, alarms(50, "critical", start=50), mode="structured")
    poison = Producer(KafkaClientConfig(bootstrap_servers=bootstrap))
    poison.send_and_wait(bus_topic, b"this is not an event", b"bad")
    poison.send_and_wait(
        bus_topic,
        b'{"specversion": "1.0"}',
        b"bad2",
        [("content-type", b"application/cloudevents+json")],
    )
    poison.close()
    produce(bootstrap, bus_topic, alarms(10, "critical", start=100))  # after the poison

    pager = read_topic(bootstrap, f"kbridge.target.pager-{u}", 110, timeout=90)
    assert len(pager) == 110, kbridge.logs()
    assert {m.value() for m in pager} == {f"host db-{i} is down".encode() for i in range(110)}
    headers = dict(pager[0].headers())
    assert headers["kbridge-rule"] == f"critical-{u}".encode()
    assert headers["kbridge-bus"] == f"ops-{u}".encode()
    assert headers["content-type"] == b"text/plain"
    assert b"kbridge-ingested-at" in {k.encode() for k in headers}
    assert headers["ce_source"] == b"cloud.monitor"

    archived = read_topic(bootstrap, f"kbridge.target.arch-{u}", 110)
    assert len(archived) == 110
    event = decode(archived[0].value(), archived[0].headers())
    assert event.type == "alarm" and event.data["data"]["severity"] == "critical"

    letters = read_topic(bootstrap, f"{bus_topic}.dlq", 2)
    assert len(letters) == 2
    assert {m.value() for m in letters} == {b"this is not an event", b'{"specversion": "1.0"}'}
    for letter in letters:
        marks = dict(letter.headers())
        assert marks["kbridge-error-code"] == b"invalid-event"
        assert marks["kbridge-failed-stage"] == b"decode"
        assert marks["kbridge-error-message"]

    # live rule change: a new rule applies to events produced once the router rebuilt its
    # table (apply writes only the changed rule: one rebuild), without a restart
    rebuilt = kbridge.log_count(REBUILT, "router")
    kbridge.apply(config_text(u, extra_rule=True))
    kbridge.wait_for_log(REBUILT, "router", rebuilt + 1)
    produce(bootstrap, bus_topic, alarms(20, "warning"))
    archived = read_topic(bootstrap, f"kbridge.target.arch-{u}", 130)
    warnings = [
        m for m in archived if dict(m.headers())["kbridge-rule"] == f"warnings-{u}".encode()
    ]
    assert len(warnings) == 20, kbridge.logs()
    # the rule's path transform put only the event's data into the structured egress event
    assert decode(warnings[0].value(), warnings[0].headers()).data["severity"] == "warning"

    # and deleting it stops them
    rebuilt = kbridge.log_count(REBUILT, "router")
    kbridge.apply(config_text(u), "--prune")
    kbridge.wait_for_log(REBUILT, "router", rebuilt + 1)
    produce(bootstrap, bus_topic, alarms(20, "warning", start=20))
    produce(bootstrap, bus_topic, alarms(1, "critical", start=500))  # a marker that still routes
    pager = read_topic(bootstrap, f"kbridge.target.pager-{u}", 111)
    assert len(pager) == 111
    archived = read_topic(bootstrap, f"kbridge.target.arch-{u}", 131, settle=2)
    assert len(archived) == 131, "events after the rule's deletion must not be routed"
