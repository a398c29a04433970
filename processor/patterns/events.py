"""Event input: JSON text, bytes or an already-parsed mapping, checked once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

from processor.errors import InvalidEventError

RawEvent = str | bytes | bytearray | memoryview | Mapping[str, Any]


def load_event(event: RawEvent) -> Mapping[str, Any]:
    """Parse ``event`` unless it is already a mapping; it must be a JSON object."""
    if type(event) is dict or isinstance(event, Mapping):
        return event
    if not isinstance(event, str | bytes | bytearray | memoryview):
        raise InvalidEventError(f"Event must be JSON text or a mapping, not {type(event).__name__}")
    try:
        document = orjson.loads(event)
    except orjson.JSONDecodeError as exc:
        # orjson refuses integers beyond 64 bits; the standard parser keeps them exactly.
        try:
            raw = event if isinstance(event, str) else bytes(event).decode()
            document = json.loads(raw)
        except (ValueError, RecursionError):
            raise InvalidEventError(f"Event is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidEventError("Event is not valid: a JSON object is required")
    return document
