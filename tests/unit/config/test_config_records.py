"""The kbridge.rules record format: keys, values with plain-text secrets, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from processor.config import ConfigValidationError, load_config
from processor.config.records import (
    decode_object,
    encode_object,
    kind_of,
    object_key,
    parse_key,
    parse_object,
)


def test_every_object_of_the_example_round_trips(example_file: Path) -> None:
    config = load_config(example_file, env={})
    for kind, obj in config.objects():
        assert kind_of(obj) == kind
        key = object_key(kind, obj.name)
        assert parse_key(key.encode()) == (kind, obj.name)
        assert decode_object(kind, encode_object(obj)) == obj


def test_secrets_are_stored_in_plain_text() -> None:
    obj = parse_object(
        "target",
        {
            "name": "hook",
            "kind": "kafka",
            "topic": "t",
            "cluster": {"bootstrap_servers": "b:9092", "sasl_password": "kafka-pw"},
        },
    )
    value = json.loads(encode_object(obj))
    assert value["cluster"]["sasl_password"] == "kafka-pw"
    assert value["kind"] == "kafka" and value["name"] == "hook"


def test_values_are_deterministic() -> None:
    obj = parse_object("bus", {"name": "b", "retention": "1d"})
    assert encode_object(obj) == encode_object(
        parse_object("bus", {"retention": 86400, "name": "b"})
    )


@pytest.mark.parametrize("key", [None, b"", b"rule", b"rule/", b"widget/x"])
def test_foreign_keys_are_rejected(key: bytes | None) -> None:
    with pytest.raises(ValueError):
        parse_key(key)


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ValidationError):
        decode_object("rule", b'{"name": "r"}')


def test_parse_object_errors_name_the_origin_object_and_field() -> None:
    with pytest.raises(ConfigValidationError) as exc:
        parse_object(
            "rule",
            {"name": "r", "bus": "b", "pattern": {}, "targets": [{"target": "t", "retry": 5}]},
            origin="PUT /v1/rules/r",
        )
    assert exc.value.lines == [
        "PUT /v1/rules/r: rules[r].targets[0].retry: Input should be a valid dictionary or "
        "instance of RetryPolicy"
    ]


def test_parse_object_drops_the_union_tag_from_locations() -> None:
    with pytest.raises(ConfigValidationError) as exc:
        parse_object("target", {"name": "t", "kind": "webhook", "url": "x"})
    assert exc.value.lines == ["api: targets[t].url: must be an http:// or https:// URL"]
