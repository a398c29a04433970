"""Issue 16 item 15: events nested up to AWS's 1000 levels route without a RecursionError.

Reference: "PutEvents will only process nested JSON up to 1000 levels deep" (PutEvents API
reference, https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html;
the same note is in botocore's data/events/2015-10-07/service-2.json). orjson serialises at
most 254 levels and CPython recurses at most ~1000 frames, so the gateway, the router's
matcher, the transforms and the encoders each need a path that does not recurse.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from processor.config import parse_config
from processor.events import CloudEvent, decode, deepjson, encode
from processor.gateway.aws import entry_to_event
from processor.patterns import RuleIndex
from processor.patterns.index import _NO_MEMBERSHIP, _walk_object, _walk_without_recursion
from processor.router.core import route
from processor.router.records import InRecord
from processor.router.table import RoutingTable

CONFIG = """
buses: [{name: ops}]
targets:
  - {name: binary, kind: kafka, topic: t1}
  - {name: structured, kind: kafka, topic: t2, format: structured}
  - {name: avro, kind: kafka, topic: t3, format: avro}
  - {name: path, kind: kafka, topic: t4}
  - {name: template, kind: kafka, topic: t5}
  - {name: text, kind: kafka, topic: t6}
rules:
  - name: deep
    bus: ops
    pattern: {source: [acme.deep]}
    targets:
      - {target: binary}
      - {target: structured}
      - {target: avro}
      - {target: path, transform: {path: "$.detail"}}
      - target: template
        transform:
          input_paths: {k: "$.detail.k"}
          input_template: '{"copy": <k>}'
      - target: text
        transform:
          input_paths: {k: "$.detail.k"}
          input_template: "deep <k>"
  - name: leaf
    bus: ops
    pattern: {detail: {k: [{exists: true}]}}
    targets: [{target: path}]
"""


def nested(levels: int, shape: str) -> str:
    """A Detail object ``levels`` deep (the outer object counts), as JSON text."""
    inner = levels - 1
    if shape == "arrays":
        return '{"k":' + "[" * inner + "1" + "]" * inner + "}"
    return '{"k":' + '{"k":' * (inner - 1) + "1" + "}" * (inner - 1) + ' , "x": true}'


@pytest.mark.parametrize("shape", ["arrays", "objects"])
def test_999_levels_route_to_every_target(shape: str) -> None:
    table = RoutingTable.from_config(parse_config(CONFIG, "deep.yaml"))
    detail = nested(999, shape)
    event = entry_to_event(
        {"Source": "acme.deep", "DetailType": "t", "Detail": detail},
        "ops",
        max_event_bytes=1 << 20,
        now=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert isinstance(event, CloudEvent)
    record = encode(event, "binary")
    assert record.value == detail.encode()  # the gateway never re-serialises Detail
    result = route(
        table, InRecord("kbridge.bus.ops", 0, 0, record.key, record.value, record.headers, 1)
    )
    assert result.error_code is None
    # "leaf" needs the matcher to walk all the way down the arrays to the number 1; an
    # object holds no leaf under "k" until the bottom, which exists does not look into
    assert result.matched_rules == (("deep", "leaf") if shape == "arrays" else ("deep",))
    by_target = {r.target: r for r in result.records if r.rule == "deep"}
    assert set(by_target) == {"binary", "structured", "avro", "path", "template", "text"}
    assert not any(r.dead_letter for r in result.records)
    expected = deepjson.dumps(orjson.loads(detail))
    assert by_target["path"].value == expected
    whole = orjson.loads(by_target["binary"].value or b"")  # no transform: the whole event
    assert deepjson.dumps(whole.get("detail", whole.get("data"))) == expected
    text = (by_target["text"].value or b"").decode()  # AWS's unquoted form, 999 levels deep
    assert text.startswith("deep [[[" if shape == "arrays" else "deep {k:{k:")
    copied = orjson.loads(by_target["template"].value or b"")
    assert deepjson.dumps(copied["copy"]) == deepjson.dumps(orjson.loads(detail)["k"])
    for name in ("structured", "avro"):
        out = by_target[name]
        data = decode(out.value, out.headers).data  # the whole event, as above
        assert deepjson.dumps(data.get("detail", data.get("data"))) == expected


def test_deepjson_is_orjson_where_orjson_works() -> None:
    rng = random.Random(7)

    def value(depth: int) -> Any:
        kind = rng.randrange(7 if depth < 6 else 4)
        if kind == 0:
            return rng.choice([None, True, False])
        if kind == 1:
            return rng.choice([0, -1, 2**63 - 1, 1.5, -2.25e-10])
        if kind in (2, 3):
            return rng.choice(["", "a", 'q"\\\n', "\u00e9\U0001f600"])
        if kind in (4, 5):
            return {rng.choice("abc") + str(i): value(depth + 1) for i in range(rng.randrange(4))}
        return [value(depth + 1) for _ in range(rng.randrange(4))]

    for _ in range(500):
        sample = value(0)
        assert deepjson._dumps_deep(sample, None) == orjson.dumps(sample)


def test_iterative_walk_collects_what_the_recursive_walk_collects() -> None:
    """The matcher's fallback for deep events sees exactly what its fast path sees."""
    index = RuleIndex()
    index.add("a", {"d": {"a": [{"exists": True}], "b": [{"numeric": [">", 0]}]}})
    index.add("b", {"d": {"x": {"y": [1, 2]}}, "source": [{"prefix": "s"}]})
    events: list[dict[str, Any]] = [
        {"source": "s1", "d": [{"a": 1}, {"b": 2}, {"x": {"y": [1, [2, 3]]}}]},
        {"d": {"a": [[{"a": 1}], 2], "b": [[[5]]], "x": [{"y": 2}, {"y": [1]}]}},
        {"d.x.y": 1, "source": ["s", "t"]},
    ]
    compiled = index._index
    for event in events:
        recursive: dict[Any, Any] = {}
        iterative: dict[Any, Any] = {}
        _walk_object(event, compiled._root, _NO_MEMBERSHIP, recursive, itertools.count(1))
        _walk_without_recursion(event, compiled._root, iterative, itertools.count(1))
        assert recursive == iterative


def test_mysql_dump_column_of_a_deep_value() -> None:
    """A ``columns`` JSONPath selecting a subtree deeper than orjson's 254 levels."""
    from processor.sinks.base import Delivery
    from processor.sinks.mysql import MysqlSink

    payload = '{"k":' * 600 + "1" + "}" * 600
    sink = MysqlSink("sqlite://", "deep", columns={"inner": "$.k"})
    row = sink.row(Delivery(value=payload.encode(), headers={"ce_id": "1"}), 0.0)
    assert row["inner"] == '{"k":' * 599 + "1" + "}" * 599
    assert row["data"] == payload
