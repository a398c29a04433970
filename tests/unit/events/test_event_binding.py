"""The Kafka protocol binding: binary, structured JSON and Avro round trips, bad records."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.errors import InvalidEventError
from processor.events import CloudEvent, KafkaRecord, decode, decode_json_form, encode
from processor.events.kafka import Mode

MODES: tuple[Mode, ...] = ("binary", "structured", "avro")

PUSH = CloudEvent(
    id="delivery-72d3162e",
    source="saas.github",
    type="push",
    subject="octo/kbridge",
    time="2024-03-01T10:15:00.5Z",
    datacontenttype="application/json",
    dataschema="https://example.com/schemas/push.json",
    data={"ref": "refs/heads/main", "size": 3, "ok": True, "pusher": {"name": "octo"}},
    extensions={"partitionkey": "repo-42", "traceparent": "00-0af7-b7ad-01"},
)


def headers_of(record: KafkaRecord) -> dict[str, bytes]:
    return dict(record.headers)


def test_binary_mode_layout() -> None:
    record = encode(PUSH, "binary")
    headers = headers_of(record)
    assert record.key == b"repo-42"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"] == b"delivery-72d3162e"
    assert headers["ce_source"] == b"saas.github"
    assert headers["ce_type"] == b"push"
    assert headers["ce_subject"] == b"octo/kbridge"
    assert headers["ce_time"] == b"2024-03-01T10:15:00.5Z"
    assert headers["ce_partitionkey"] == b"repo-42"
    assert headers["content-type"] == b"application/json"
    assert "ce_datacontenttype" not in headers
    assert record.value is not None
    assert orjson.loads(record.value) == PUSH.data


def test_structured_modes_layout() -> None:
    structured = encode(PUSH, "structured")
    assert headers_of(structured)["content-type"].startswith(b"application/cloudevents+json")
    assert structured.value is not None
    assert orjson.loads(structured.value) == PUSH.to_json_dict()
    avro = encode(PUSH, "avro")
    assert headers_of(avro) == {"content-type": b"application/cloudevents+avro"}
    assert avro.key == b"repo-42"


@pytest.mark.parametrize("mode", MODES)
def test_round_trip_json_data(mode: Mode) -> None:
    record = encode(PUSH, mode)
    decoded = decode(record.value, record.headers)
    assert decoded == PUSH
    assert decode_json_form(record.value, record.headers) == PUSH.to_json_dict()


@pytest.mark.parametrize("mode", MODES)
def test_round_trip_binary_data(mode: Mode) -> None:
    event = CloudEvent(
        id="1", source="/cam/3", type="frame", datacontenttype="image/png", data=b"\x89PNG\x00\xff"
    )
    record = encode(event, mode)
    assert decode(record.value, record.headers) == event
    form = decode_json_form(record.value, record.headers)
    assert base64.b64decode(form["data_base64"]) == b"\x89PNG\x00\xff"
    assert record.key == b"/cam/3"


@pytest.mark.parametrize("mode", MODES)
def test_round_trip_text_and_no_data(mode: Mode) -> None:
    text = CloudEvent(id="1", source="s", type="t", datacontenttype="text/plain", data="héllo")
    record = encode(text, mode)
    assert decode(record.value, record.headers) == text
    empty = CloudEvent(id="2", source="s", type="t", subject="sub")
    record = encode(empty, mode)
    assert record.key == b"sub"
    assert decode(record.value, record.headers) == empty


def test_binary_extension_values_become_strings() -> None:
    """Kafka headers carry text: the binding cannot keep an extension's integer type."""
    event = CloudEvent(id="1", source="s", type="t", extensions={"seq": 5, "replay": True})
    record = encode(event, "binary")
    assert decode(record.value, record.headers).extensions == {"seq": "5", "replay": "true"}
    assert decode(*_vh(encode(event, "structured"))).extensions == {"seq": 5, "replay": True}
    assert decode(*_vh(encode(event, "avro"))).extensions == {"seq": 5, "replay": True}


def _vh(record: KafkaRecord) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    return record.value, record.headers


def test_avro_numbers_and_unrepresentable_json() -> None:
    """The spec's Avro JSON union has doubles only and no array under an object."""
    event = CloudEvent(id="1", source="s", type="t", data={"n": 3, "x": 1.5, "tags": ["a", "b"]})
    back = decode(*_vh(encode(event, "avro")))
    assert back.data == event.data
    assert back.datacontenttype == "application/json"  # written as JSON bytes
    deep = CloudEvent(id="1", source="s", type="t", data={"o": {"inner": {"leaf": 1}}})
    assert decode(*_vh(encode(deep, "avro"))).data == deep.data
    fits = CloudEvent(
        id="1", source="s", type="t", data={"n": 3, "o": {"k": "v", "a": [{"x": {"y": {}}}]}}
    )
    back = decode(*_vh(encode(fits, "avro")))
    assert back == fits  # native Avro union, no content type added


def test_binary_without_content_type_reads_json_when_it_parses() -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"1"),
        ("ce_source", b"kcat"),
        ("ce_type", b"t"),
    ]
    assert decode(b'{"a": 1}', headers).data == {"a": 1}
    assert decode(b"plain words", headers).data == "plain words"
    assert decode(b"\xff\xfe", headers).data == b"\xff\xfe"
    assert decode(None, headers).data is None


def test_header_names_are_case_insensitive_and_str_values_accepted() -> None:
    headers: list[tuple[str, Any]] = [
        ("CE_SpecVersion", "1.0"),
        ("ce_id", b"1"),
        ("ce_source", b"s"),
        ("ce_type", b"t"),
        ("Content-Type", b"application/json; charset=utf-8"),
    ]
    event = decode(b"[1,2]", headers)
    assert event.data == [1, 2]
    assert event.datacontenttype == "application/json; charset=utf-8"


BASE_HEADERS = [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"t")]


@pytest.mark.parametrize(
    ("value", "headers", "message"),
    [
        (b"{}", [], "no 'ce_specversion' header (binary mode) and content-type is None"),
        (b"{}", [("content-type", b"application/json")], "content-type is 'application/json'"),
        (b"{}", BASE_HEADERS[1:], "no 'ce_specversion' header"),
        (b"{}", [*BASE_HEADERS[:1], *BASE_HEADERS[2:]], "missing required attribute 'id'"),
        (b"{}", [("ce_specversion", b"0.3"), *BASE_HEADERS[1:]], "must be '1.0', got '0.3'"),
        (b"{}", [*BASE_HEADERS, ("ce_time", b"noon")], "attribute 'time' must be an RFC 3339"),
        (b"{}", [*BASE_HEADERS, ("ce_my-ext", b"x")], "attribute name 'my-ext' is invalid"),
        (b"{}", [*BASE_HEADERS, ("ce_bad", None)], "header 'ce_bad' has no value"),
        (b"{}", [*BASE_HEADERS[:3], ("ce_type", b"\xff")], "header 'ce_type' is not valid UTF-8"),
        (
            b"{not json",
            [*BASE_HEADERS, ("content-type", b"application/json")],
            "data is not valid JSON although the content type is 'application/json'",
        ),
        (None, [("content-type", b"application/cloudevents+json")], "has an empty value"),
        (b"[1]", [("content-type", b"application/cloudevents+json")], "got list"),
        (b"{x", [("content-type", b"application/cloudevents+json")], "is not valid JSON"),
        (
            b'{"specversion":"1.0","id":"1","type":"t"}',
            [("content-type", b"application/cloudevents+json")],
            "missing required attribute 'source'",
        ),
        (b"\x01\x02", [("content-type", b"application/cloudevents+avro")], "not an Avro"),
        (b"[]", [("content-type", b"application/cloudevents-batch+json")], "one event"),
    ],
)
def test_invalid_records_name_the_problem(
    value: bytes | None, headers: list[tuple[str, Any]], message: str
) -> None:
    with pytest.raises(InvalidEventError) as info:
        decode_json_form(value, headers)
    assert message in str(info.value)
    with pytest.raises(InvalidEventError) as info:
        decode(value, headers)
    assert message in str(info.value)


def test_avro_missing_required_attribute() -> None:
    record = encode(CloudEvent(id="1", source="s", type="t"), "avro")
    # Drop the first attribute entry by re-encoding without it via the codec itself.
    from processor.events.avro import encode_avro

    value = encode_avro({"specversion": "1.0", "id": "1", "type": "t"}, None)
    with pytest.raises(InvalidEventError, match="missing required attribute 'source'"):
        decode(value, record.headers)


json_scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
ext_names = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True).filter(
    lambda n: (
        n
        not in {
            "id",
            "source",
            "type",
            "subject",
            "time",
            "data",
            "specversion",
            "dataschema",
            "datacontenttype",
        }
    )
)
events = st.builds(
    lambda data, subject, exts, ident: CloudEvent(
        id=ident, source="/s", type="t", subject=subject, data=data, extensions=exts
    ),
    json_values,
    st.none() | st.text(min_size=1, max_size=10),
    st.dictionaries(ext_names, st.text(max_size=6), max_size=3),
    st.text(min_size=1, max_size=10),
)


@settings(max_examples=150, deadline=None)
@given(events, st.sampled_from(MODES))
def test_decode_json_form_agrees_with_decode(event: CloudEvent, mode: Mode) -> None:
    record = encode(event, mode)
    form = decode_json_form(record.value, record.headers)
    assert form == decode(record.value, record.headers).to_json_dict()
    expected = event.to_json_dict()
    form.pop("datacontenttype", None)  # Avro may add application/json for data that needs it
    expected.pop("datacontenttype", None)
    assert form == expected


def test_binary_ce_datacontenttype_header_is_honoured_without_content_type() -> None:
    headers = [*BASE_HEADERS, ("ce_datacontenttype", b"application/json")]
    event = decode(b'{"a": 1}', headers)
    assert event.datacontenttype == "application/json"
    assert event.data == {"a": 1}
    with pytest.raises(InvalidEventError, match="data is not valid JSON"):
        decode(b"{nope", headers)


def test_untyped_binary_data_stays_bytes_in_binary_mode() -> None:
    event = CloudEvent(id="1", source="s", type="t", data=b'{"looks": "like json"}')
    record = encode(event, "binary")
    assert ("content-type", b"application/octet-stream") in record.headers
    back = decode(record.value, record.headers)
    assert back.data == b'{"looks": "like json"}'
    assert back.datacontenttype == "application/octet-stream"
    for mode in ("structured", "avro"):
        assert decode(*_vh(encode(event, mode))) == event  # type: ignore[arg-type]
