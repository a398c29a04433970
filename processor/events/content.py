"""Event data and its content type: how bytes on the wire become ``data`` and back.

One rule set for every binding (Kafka binary mode, HTTP binary mode, Avro fallback), so that
an event reads the same whichever way it arrived:

* a JSON content type (``application/json``, ``*/*+json``, ``text/json``) is parsed, so that
  patterns can match into the data; a body that is not JSON is an invalid event;
* no content type: JSON when the bytes parse as JSON (producers such as kcat rarely set one),
  else text when they are UTF-8, else bytes;
* a textual type (``text/*``, XML, form data) is text when UTF-8;
* anything else stays bytes (``data_base64`` in the JSON form).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson

from processor.errors import InvalidEventError

JSON_CONTENT_TYPE = "application/json"
# application/json, text/json and any subtype with the +json structured-syntax suffix
# (RFC 6839 §3.1), the subtype's characters being RFC 6838 §4.2's restricted-name-chars
# (which include "+": application/vnd.a+b+json is JSON). Parameters and case are ignored.
# The one rule for event data and for the gateway guard's JSON-only writes.
_JSON_TYPE = re.compile(
    r"^\s*(?:application|text)/(?:[A-Za-z0-9!#$&^_.+\-]+\+)?json\s*(?:;.*)?$", re.I
)
_TEXT_TYPE = re.compile(
    r"^\s*(?:text/[^;]+|[A-Za-z0-9\-.]+/(?:[A-Za-z0-9\-.]+\+)?xml|"
    r"application/x-www-form-urlencoded|application/javascript)\s*(?:;.*)?$",
    re.I,
)


@functools.lru_cache(maxsize=1_000)
def is_json_type(content_type: str | None) -> bool:
    """Whether data of ``content_type`` is JSON (absent means JSON in the JSON format).

    Answers are remembered (bounded): a few content types recur on every event, and the
    regex match was a measurable part of the gateway's per-event work.
    """
    return content_type is None or bool(_JSON_TYPE.match(content_type))


def parse_data(body: bytes | None, content_type: str | None) -> Any:
    """Turn a binary-mode body into event data; ``None`` when there is no body."""
    if not body:
        return None
    if content_type is None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            return _text_or_bytes(body)
    if is_json_type(content_type):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidEventError(
                f"data is not valid JSON although the content type is {content_type!r}: {exc}"
            ) from None
    if _TEXT_TYPE.match(content_type):
        return _text_or_bytes(body)
    return bytes(body)


def _text_or_bytes(body: bytes) -> str | bytes:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return bytes(body)


def serialize_data(data: Any, content_type: str | None) -> bytes | None:
    """The binary-mode body for ``data``; ``None`` when the event has no data."""
    if data is None:
        return None
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str) and content_type is not None and not is_json_type(content_type):
        return data.encode("utf-8")
    try:
        return orjson.dumps(data)
    except TypeError as exc:
        raise InvalidEventError(f"data is not JSON-serializable: {exc}") from None
