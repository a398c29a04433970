"""Issue 16 items 4, 5 and 9 through the pure routing core: what the router does with them.

The rule ARN needs the bus name that only the router knows; a quoted object (which
EventBridge does not deliver) and an event too costly to match must become dead letters
with the reason in their headers, never an exception out of ``route``.
"""

from __future__ import annotations

from typing import Any

import orjson

from processor.config import parse_config
from processor.events import CloudEvent, encode
from processor.router.core import route
from processor.router.records import InRecord
from processor.router.table import RoutingTable

CONFIG = """
buses: [{name: ops}]
targets:
  - {name: hook, kind: webhook, url: "http://127.0.0.1:9/x", allow_private_network: true}
rules:
  - name: arn
    bus: ops
    pattern: {type: [arn]}
    targets:
      - target: hook
        transform: {input_template: '{"arn": <aws.events.rule-arn>}'}
  - name: quoted
    bus: ops
    pattern: {type: [quoted]}
    targets:
      - target: hook
        transform: {input_paths: {p: "$.data.payload"}, input_template: '{"payload": "<p>"}'}
  - name: wide
    bus: ops
    pattern:
      data: {T: {a: ["1"], c: ["1"], b: {k: ["1"], z: [{exists: false}]}}}
    targets: [{target: hook}]
"""


def _table() -> RoutingTable:
    return RoutingTable.from_config(parse_config(CONFIG, "test.yaml"))


def _record(event_type: str, data: Any, **extensions: Any) -> InRecord:
    event = CloudEvent(
        id="e1",
        source="s",
        type=event_type,
        datacontenttype="application/json",
        data=data,
        **extensions,
    )
    rec = encode(event, "structured")
    return InRecord("kbridge.bus.ops", 0, 1, rec.key, rec.value, rec.headers, 1_700_000_000_000)


def test_rule_arn_names_the_bus_and_the_rule() -> None:
    result = route(_table(), _record("arn", {"x": 1}))
    assert result.matched_rules == ("arn",)
    (out,) = result.records
    assert orjson.loads(out.value) == {"arn": "arn:kbridge:events:local:000000000000:rule/ops/arn"}


def test_quoted_object_is_a_dead_letter_with_the_reason() -> None:
    result = route(_table(), _record("quoted", {"payload": {"acc_id": "0a787ecb-4015"}}))
    (letter,) = result.records
    assert letter.topic == "kbridge.bus.ops.dlq"
    headers = dict(letter.headers)
    assert headers["kbridge-failed-stage"] == b"transform"
    assert headers["kbridge-error-code"] == b"transform-failed"
    assert b"placed in quotes" in headers["kbridge-error-message"]
    # a string payload is delivered
    ok = route(_table(), _record("quoted", {"payload": "text"}))
    assert [orjson.loads(r.value) for r in ok.records] == [{"payload": "text"}]


def test_event_too_costly_to_match_is_a_dead_letter_not_a_crash() -> None:
    n = 2000
    # "T.b" is a key of its own: data.T.a < data.T.b.k < data.T.b.z < data.T.c, and the
    # exists:false clause fixes event-ruler's order (see test_patterns_fidelity.py)
    data = {"T": [{"a": "1"}] * n + [{"c": "1"}], "T.b": [{"k": "1"}] * n + [{"z": 1}]}
    record = _record("wide", data)
    result = route(_table(), record)
    (letter,) = result.records
    assert letter.topic == "kbridge.bus.ops.dlq"
    headers = dict(letter.headers)
    assert headers["kbridge-error-code"] == b"event-too-complex"
    assert b"array-consistency search exceeded" in headers["kbridge-error-message"]
    assert letter.value == record.value  # the original bytes, nothing lost
