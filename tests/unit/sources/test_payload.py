"""Broker payload to CloudEvent mapping."""

from __future__ import annotations

import json

import pytest

from processor.errors import InvalidEventError
from processor.events import decode, encode
from processor.sources.payload import payload_event


def roundtrip(**kwargs: object) -> dict[str, object]:
    event = payload_event(source="mqtt://127.0.0.1:1883", type="mqtt.message", **kwargs)  # type: ignore[arg-type]
    record = encode(event, "binary")
    return decode(record.value, record.headers).to_json_dict()


def test_json_payload_becomes_json_data() -> None:
    form = roundtrip(payload=b'{"temp": 21.5}', subject="plant/a/temp")
    assert form["data"] == {"temp": 21.5}
    assert form["datacontenttype"] == "application/json"
    assert form["subject"] == "plant/a/temp"


def test_non_json_payload_becomes_base64_octet_stream() -> None:
    form = roundtrip(payload=b"\x00\x01binary")
    assert form["datacontenttype"] == "application/octet-stream"
    assert form["data_base64"] == "AAFiaW5hcnk="
    assert "data" not in form


def test_declared_content_type_is_kept() -> None:
    form = roundtrip(payload=b"<a/>", content_type="application/xml")
    assert form["datacontenttype"] == "application/xml"
    assert form["data"] == "<a/>"


def test_declared_json_that_does_not_parse_is_malformed() -> None:
    with pytest.raises(InvalidEventError, match="not valid JSON"):
        roundtrip(payload=b"{oops", content_type="application/json")


def test_structured_cloudevent_payload_is_taken_as_is() -> None:
    structured = {
        "specversion": "1.0",
        "id": "abc",
        "source": "sensor/1",
        "type": "reading",
        "data": {"v": 1},
    }
    event = payload_event(
        json.dumps(structured).encode(),
        source="ignored",
        type="ignored",
        content_type="application/cloudevents+json",
    )
    assert (event.id, event.source, event.type, event.data) == (
        "abc",
        "sensor/1",
        "reading",
        {"v": 1},
    )
    with pytest.raises(InvalidEventError):
        payload_event(
            b'{"id": "x"}', source="s", type="t", content_type="application/cloudevents+json"
        )


def test_size_limit_and_stable_ids() -> None:
    with pytest.raises(InvalidEventError) as info:
        payload_event(b"x" * 11, source="s", type="t", max_bytes=10)
    assert info.value.code == "too-large"
    first = payload_event(b"{}", source="s", type="t", id="stream:7")
    again = payload_event(b"{}", source="s", type="t", id="stream:7")
    assert first.id == again.id == "stream:7"
    assert (
        payload_event(b"{}", source="s", type="t").id
        != payload_event(b"{}", source="s", type="t").id
    )
