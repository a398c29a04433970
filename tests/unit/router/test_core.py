"""The pure routing core, without a broker."""

from __future__ import annotations

import orjson
import pytest

from processor.config import parse_config
from processor.events import CloudEvent, decode, encode
from processor.router.core import route
from processor.router.records import InRecord
from processor.router.table import RoutingTable

CONFIG = """
buses: [{name: ops}, {name: saas}]
targets:
  - {name: pager, kind: webhook, url: "http://127.0.0.1:9/x", allow_private_network: true}
  - {name: archive, kind: kafka, topic: archive, format: structured}
  - {name: avro-archive, kind: kafka, topic: archive2, format: avro}
rules:
  - name: critical
    bus: ops
    pattern: {type: [alarm], data: {severity: [critical]}}
    targets:
      - target: pager
        transform:
          input_paths: {host: "$.data.host"}
          input_template: "host <host> is down"
      - {target: archive}
  - name: everything
    bus: ops
    pattern: {source: [{prefix: ""}]}
    targets: [{target: avro-archive, transform: {path: "$.data"}}]
  - name: broken-json
    bus: ops
    pattern: {type: [broken]}
    targets:
      - target: pager
        transform: {path: "$.data.missing"}
  - name: github
    bus: saas
    pattern: {source: [saas.github]}
    targets: [{target: archive}]
"""


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return RoutingTable.from_config(parse_config(CONFIG, "test.yaml"))


def alarm(severity: str, *, event_type: str = "alarm", mode: str = "binary") -> InRecord:
    event = CloudEvent(
        id="e1",
        source="cloud.monitor",
        type=event_type,
        subject="host-1",
        datacontenttype="application/json",
        data={"severity": severity, "host": "db-1", "x": 1},
    )
    rec = encode(event, mode)  # type: ignore[arg-type]
    return InRecord("kbridge.bus.ops", 0, 7, rec.key, rec.value, rec.headers, 1_700_000_000_000)


def test_matching_event_goes_to_every_target_of_every_matched_rule(table: RoutingTable) -> None:
    result = route(table, alarm("critical"))
    assert result.matched_rules == ("critical", "everything")
    by_target = {r.target: r for r in result.records}
    assert set(by_target) == {"pager", "archive", "avro-archive"}

    pager = by_target["pager"]
    assert pager.topic == "kbridge.target.pager"
    assert pager.value == b"host db-1 is down"
    assert pager.key == b"host-1"
    headers = dict(pager.headers)
    assert headers["ce_id"] == b"e1"
    assert headers["ce_source"] == b"cloud.monitor"
    assert headers["content-type"] == b"text/plain"
    assert headers["kbridge-rule"] == b"critical"
    assert headers["kbridge-bus"] == b"ops"
    assert headers["kbridge-ingested-at"] == b"2023-11-14T22:13:20.000Z"

    archived = decode(by_target["archive"].value, by_target["archive"].headers)
    assert archived.id == "e1"
    assert archived.data["data"] == {"severity": "critical", "host": "db-1", "x": 1}

    avro = decode(by_target["avro-archive"].value, by_target["avro-archive"].headers)
    assert avro.data == {"severity": "critical", "host": "db-1", "x": 1}
    assert avro.type == "alarm"


def test_structured_ingress_is_routed_like_binary(table: RoutingTable) -> None:
    binary = route(table, alarm("critical"))
    structured = route(table, alarm("critical", mode="structured"))
    assert [r.value for r in structured.records] == [r.value for r in binary.records]


def test_non_matching_event_produces_nothing(table: RoutingTable) -> None:
    result = route(table, alarm("info"))
    assert result.matched_rules == ("everything",)
    assert [r.target for r in result.records] == ["avro-archive"]


@pytest.mark.parametrize(
    ("value", "headers", "code"),
    [
        (b"not json at all", [], "invalid-event"),
        (b'{"id": 1}', [("content-type", b"application/cloudevents+json")], "invalid-event"),
        (b"{}", [("ce_specversion", b"1.0"), ("ce_id", b"x")], "invalid-event"),
    ],
)
def test_poison_records_become_dead_letters(
    table: RoutingTable, value: bytes, headers: list[tuple[str, bytes]], code: str
) -> None:
    record = InRecord("kbridge.bus.ops", 2, 41, b"k", value, headers, 0)
    result = route(table, record)
    assert len(result.records) == 1
    letter = result.records[0]
    assert letter.dead_letter and letter.topic == "kbridge.bus.ops.dlq"
    assert letter.value == value and letter.key == b"k"
    marks = dict(letter.headers)
    assert marks["kbridge-error-code"].decode() == code
    assert marks["kbridge-failed-stage"] == b"decode"
    assert marks["kbridge-error-message"]
    assert marks["kbridge-original-offset"] == b"kbridge.bus.ops[2]@41"
    for name, raw in headers:
        assert (name, raw) in letter.headers


def test_transform_failure_dead_letters_only_that_target(table: RoutingTable) -> None:
    result = route(table, alarm("info", event_type="broken"))
    letters = [r for r in result.records if r.dead_letter]
    routed = [r for r in result.records if not r.dead_letter]
    assert [r.target for r in routed] == ["avro-archive"]
    assert len(letters) == 1
    marks = dict(letters[0].headers)
    assert marks["kbridge-failed-stage"] == b"transform"
    assert marks["kbridge-rule"] == b"broken-json"
    assert b"broken-json" in marks["kbridge-error-message"]


def test_replay_for_one_rule_routes_only_that_rule(table: RoutingTable) -> None:
    original = alarm("critical")
    replayed = InRecord(
        original.topic,
        0,
        8,
        original.key,
        original.value,
        [
            *(original.headers or []),
            ("kbridge-replay", b"r-1"),
            ("kbridge-replay-rule", b"critical"),
        ],
        original.timestamp_ms,
    )
    result = route(table, replayed)
    assert result.matched_rules == ("critical",)
    assert {r.target for r in result.records} == {"pager", "archive"}
    assert all(dict(r.headers)["kbridge-replay"] == b"r-1" for r in result.records)


def test_unknown_topic_and_rebuild_reuse(table: RoutingTable) -> None:
    assert route(table, InRecord("other", 0, 0, None, b"x")).records == []
    config = parse_config(CONFIG.replace("severity: [critical]", "severity: [warning]"), "t.yaml")
    rebuilt = table.rebuild(config)
    assert route(rebuilt, alarm("critical")).matched_rules == ("everything",)
    assert route(rebuilt, alarm("warning")).matched_rules == ("critical", "everything")
    # the unchanged rule's compiled pattern is reused, not recompiled
    old = table.bus_for_topic("kbridge.bus.saas")
    new = rebuilt.bus_for_topic("kbridge.bus.saas")
    assert old is not None and new is not None
    assert orjson.dumps(sorted(old.actions)) == orjson.dumps(sorted(new.actions))


def test_aws_shaped_rules_match_putevents_style_cloudevents() -> None:
    config = parse_config(
        """
buses: [{name: default}]
targets: [{name: t, kind: kafka, topic: t}]
rules:
  - name: aws-rule
    bus: default
    pattern:
      detail-type: [EC2 Instance State-change Notification]
      detail: {state: [running]}
      resources: [{prefix: "arn:aws:ec2"}]
    targets:
      - target: t
        transform: {input_paths: {s: "$.detail.state"}, input_template: "state <s>"}
""",
        "aws.yaml",
    )
    table = RoutingTable.from_config(config)
    event = CloudEvent(
        id="1",
        source="aws.ec2",
        type="EC2 Instance State-change Notification",
        datacontenttype="application/json",
        data={"state": "running"},
        extensions={"resources": '["arn:aws:ec2:us-east-1:1:instance/i-1"]'},
    )
    rec = encode(event)
    result = route(table, InRecord("kbridge.bus.default", 0, 0, rec.key, rec.value, rec.headers, 0))
    assert result.matched_rules == ("aws-rule",)
    assert result.records[0].value == b"state running"
    # the whole event sent to a target is the CloudEvent, without the aliases
    whole = RoutingTable.from_config(
        parse_config(
            "buses: [{name: default}]\ntargets: [{name: t, kind: kafka, topic: t}]\n"
            "rules: [{name: w, bus: default, pattern: {detail: {state: [running]}},"
            " targets: [{target: t}]}]\n",
            "w.yaml",
        )
    )
    out = route(whole, InRecord("kbridge.bus.default", 0, 0, rec.key, rec.value, rec.headers, 0))
    body = orjson.loads(out.records[0].value or b"{}")
    assert body["type"] == "EC2 Instance State-change Notification"
    assert "detail" not in body and "detail-type" not in body


def test_only_aws_shaped_transforms_see_the_aliases() -> None:
    from processor.router.table import uses_aws_fields

    assert uses_aws_fields({"path": "$.detail"})
    assert uses_aws_fields({"input_paths": {"s": "$['detail-type']"}, "input_template": "<s>"})
    assert uses_aws_fields({"input_paths": {"r": "$.resources[0]"}, "input_template": "<r>"})
    assert not uses_aws_fields({"path": "$.data.detail"})
    assert not uses_aws_fields({"input_paths": {"d": "$.details"}, "input_template": "<d>"})
    assert not uses_aws_fields(None)

    config = parse_config(
        "buses: [{name: b}]\ntargets: [{name: t, kind: kafka, topic: t}]\n"
        "rules: [{name: r, bus: b, pattern: {detail-type: [x]}, targets: [{target: t,"
        " transform: {input_paths: {}, input_template: '{\"e\": <kbridge.event.json>}'}}]}]\n",
        "k.yaml",
    )
    event = CloudEvent(id="1", source="s", type="x", data={"a": 1})
    rec = encode(event)
    out = route(
        RoutingTable.from_config(config),
        InRecord("kbridge.bus.b", 0, 0, rec.key, rec.value, rec.headers, 0),
    )
    body = orjson.loads(out.records[0].value or b"{}")
    assert body["e"]["data"] == {"a": 1}
    assert "detail" not in body["e"] and "detail-type" not in body["e"]
