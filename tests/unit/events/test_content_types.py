"""processor/events/content.is_json_type: the one rule for "is this media type JSON".

Event data (binary-mode bodies, Avro and source payloads) and the gateway guard's
JSON-only writes both ask it. JSON is ``application/json``, ``text/json`` and any subtype
with the ``+json`` structured-syntax suffix (RFC 6839 §3.1,
https://www.rfc-editor.org/rfc/rfc6839#section-3.1), whose characters are RFC 6838 §4.2's
restricted-name-chars, ``+`` among them (https://www.rfc-editor.org/rfc/rfc6838#section-4.2).
"""

from __future__ import annotations

import pytest

from processor.events.content import is_json_type
from processor.gateway.guard import GuardMiddleware


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "text/json",
        "Application/JSON; charset=utf-8",  # case and parameters do not matter
        " application/json ",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/vnd.a+b+json",  # "+" is a restricted-name char: the last suffix counts
        "application/x_y+json",  # "_" too (RFC 6838 §4.2)
        "application/vnd.k$!#&^+json",
    ],
)
def test_json_media_types(content_type: str) -> None:
    assert is_json_type(content_type)
    assert GuardMiddleware._is_json(content_type)  # the guard asks the same rule


@pytest.mark.parametrize(
    "content_type",
    [
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/json-seq",
        "application/+json",  # a suffix needs a subtype name before it
        "application/vnd.a json",
        "image/json",
    ],
)
def test_other_media_types(content_type: str) -> None:
    assert not is_json_type(content_type)
    assert not GuardMiddleware._is_json(content_type)


def test_absent_means_json_for_event_data_but_not_for_the_guard() -> None:
    # the CloudEvents JSON format: no datacontenttype means JSON data; the guard refuses a
    # write that declares no media type (a browser form could send such a body)
    assert is_json_type(None)
    assert not GuardMiddleware._is_json(None)
