"""CloudEvent validation: good and bad attributes, each error message checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from processor.errors import InvalidEventError
from processor.events import CloudEvent

REQUIRED = {"specversion": "1.0", "id": "evt-1", "source": "saas.github", "type": "push"}


def test_minimal_event_defaults_specversion() -> None:
    event = CloudEvent(id="1", source="/sensors/7", type="reading")
    assert event.specversion == "1.0"
    assert event.to_json_dict() == {
        "specversion": "1.0",
        "id": "1",
        "source": "/sensors/7",
        "type": "reading",
    }


@pytest.mark.parametrize(
    "source",
    [
        "saas.github",
        "/sensors/7",
        "https://github.com/cloudevents/spec/pull/123",
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
        "mailto:ops@example.com",
        "aws.ec2",
        "/path%20with%20escape",
    ],
)
def test_source_accepts_uri_references(source: str) -> None:
    assert CloudEvent(id="1", source=source, type="t").source == source


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "attribute 'source' must be a non-empty string"),
        ("has space", "attribute 'source' must be a URI-reference (RFC 3986)"),
        ("caf\u00e9", "contains characters that must be percent-encoded"),
        ("1http://x", "has an invalid scheme"),
        ("/bad%zz", "must be a URI-reference"),
    ],
)
def test_source_rejects_non_uri_references(source: str, message: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        CloudEvent.from_json_dict({**REQUIRED, "source": source})
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"id": "1", "source": "s", "type": "t"}, "missing required attribute 'specversion'"),
        ({"specversion": "1.0", "source": "s", "type": "t"}, "missing required attribute 'id'"),
        ({"specversion": "1.0", "id": "1", "type": "t"}, "missing required attribute 'source'"),
        ({"specversion": "1.0", "id": "1", "source": "s"}, "missing required attribute 'type'"),
        ({**REQUIRED, "specversion": "0.3"}, "attribute 'specversion' must be '1.0', got '0.3'"),
        ({**REQUIRED, "id": ""}, "attribute 'id' must be a non-empty string"),
        ({**REQUIRED, "id": 42}, "attribute 'id' must be a string, got int 42"),
        ({**REQUIRED, "type": ""}, "attribute 'type' must be a non-empty string"),
        ({**REQUIRED, "subject": ""}, "attribute 'subject' must be a non-empty string"),
        ({**REQUIRED, "datacontenttype": 5}, "attribute 'datacontenttype' must be a string"),
        (
            {**REQUIRED, "dataschema": "schemas/order.json"},
            "attribute 'dataschema' must be an absolute URI with a scheme",
        ),
        ({**REQUIRED, "time": "yesterday"}, "attribute 'time' must be an RFC 3339 timestamp"),
        (
            {**REQUIRED, "time": "2024-01-31 12:00:00Z"},
            "attribute 'time' must be an RFC 3339 timestamp",
        ),
        (
            {**REQUIRED, "time": "2024-02-30T12:00:00Z"},
            "attribute 'time' is not a valid date and time",
        ),
        ({**REQUIRED, "Upper": "x"}, "attribute name 'Upper' is invalid"),
        ({**REQUIRED, "my_ext": "x"}, "lowercase ASCII letters and digits only"),
        ({**REQUIRED, "ext": 1.5}, "extension 'ext' must be a string, integer or boolean"),
        ({**REQUIRED, "ext": {"a": 1}}, "extension 'ext' must be a string, integer or boolean"),
        ({**REQUIRED, "ext": 2**31}, "extension 'ext' is an Integer outside the 32-bit range"),
        (
            {**REQUIRED, "data": {"a": 1}, "data_base64": "AA=="},
            "must not carry both 'data' and 'data_base64'",
        ),
        ({**REQUIRED, "data_base64": "!!"}, "'data_base64' is not valid base64"),
    ],
)
def test_invalid_attributes_name_the_problem(form: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        CloudEvent.from_json_dict(form)
    assert message in str(info.value)


def test_constructor_raises_validation_error_with_the_same_message() -> None:
    with pytest.raises(ValidationError) as info:
        CloudEvent(id="1", source="not a uri", type="t")
    assert "attribute 'source' must be a URI-reference" in str(info.value)
    with pytest.raises(ValidationError) as info:
        CloudEvent(id="1", source="s", type="t", extensions={"Bad-Name": "x"})
    assert "attribute name 'Bad-Name' is invalid" in str(info.value)
    with pytest.raises(ValidationError) as info:
        CloudEvent(id="1", source="s", type="t", extensions={"subject": "x"})
    assert "'subject' is a core attribute, not an extension" in str(info.value)


def test_from_json_dict_rejects_non_objects() -> None:
    with pytest.raises(InvalidEventError, match="must be a JSON object, got list"):
        CloudEvent.from_json_dict([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "time",
    ["2024-01-31T12:00:00Z", "2024-01-31T12:00:00.123456+08:00", "1985-04-12t23:20:50.52z"],
)
def test_time_accepts_rfc3339_and_keeps_the_text(time: str) -> None:
    assert CloudEvent(id="1", source="s", type="t", time=time).time == time


def test_time_accepts_aware_datetimes() -> None:
    utc = CloudEvent(id="1", source="s", type="t", time=datetime(2024, 5, 1, 8, 30, tzinfo=UTC))
    assert utc.time == "2024-05-01T08:30:00Z"
    east = datetime(2024, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=8)))
    assert CloudEvent(id="1", source="s", type="t", time=east).time == "2024-05-01T08:30:00+08:00"
    with pytest.raises(ValidationError, match="timezone-aware"):
        CloudEvent(id="1", source="s", type="t", time=datetime(2024, 5, 1))


def test_extensions_and_null_attributes() -> None:
    event = CloudEvent.from_json_dict(
        {**REQUIRED, "subject": None, "traceparent": "00-ab-cd-01", "seq": 7, "replay": False}
    )
    assert event.subject is None
    assert event.extensions == {"traceparent": "00-ab-cd-01", "seq": 7, "replay": False}
    assert event.to_json_dict() == {
        **REQUIRED,
        "traceparent": "00-ab-cd-01",
        "seq": 7,
        "replay": False,
    }


def test_json_form_uses_data_base64_for_bytes() -> None:
    event = CloudEvent(id="1", source="s", type="t", data=b"\x00\xffraw")
    form = event.to_json_dict()
    assert form["data_base64"] == "AP9yYXc="
    assert "data" not in form
    assert CloudEvent.from_json_dict(form).data == b"\x00\xffraw"


def test_json_form_round_trip() -> None:
    form = {
        **REQUIRED,
        "subject": "repo/kbridge",
        "time": "2024-01-31T12:00:00Z",
        "datacontenttype": "application/json",
        "dataschema": "https://example.com/push.json",
        "partitionkey": "repo-1",
        "data": {"ref": "refs/heads/main", "commits": [{"id": "a1"}], "size": 3},
    }
    event = CloudEvent.from_json_dict(form)
    assert event.to_json_dict() == form
    assert CloudEvent.model_validate(event.model_dump()) == event


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"partitionkey": "pk", "subject": "sub"}, "pk"),
        ({"subject": "sub"}, "sub"),
        ({}, "saas.github"),
        ({"partitionkey": 12}, "12"),
    ],
)
def test_partition_key_choice(extra: dict[str, Any], key: str) -> None:
    assert CloudEvent.from_json_dict({**REQUIRED, **extra}).partition_key() == key
