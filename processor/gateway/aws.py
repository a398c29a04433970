"""AWS EventBridge PutEvents entries, mapped onto CloudEvents (pure, no I/O).

Mapping (design.md): ``Source → source``, ``DetailType → type``, ``Detail → data`` (a JSON
object), ``Time → time``, ``Resources → resources`` extension (a JSON array as text, since
CloudEvents extension values are scalars), ``TraceHeader → traceheader``; the EventId AWS
returns is the CloudEvent ``id``; ``kbridgebus`` names the bus. Entry problems are reported
per entry with AWS's error codes, so a batch is never half-rejected silently.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from processor.errors import InvalidEventError
from processor.events import CloudEvent
from processor.events.attributes import format_time
from processor.gateway import aws_rules

BUS_ARN_MARKER = "event-bus/"
DEFAULT_BUS = "default"


@dataclass(frozen=True, slots=True)
class EntryError:
    """A per-entry failure, rendered as ``{"ErrorCode": ..., "ErrorMessage": ...}``."""

    code: str
    message: str

    def as_result(self) -> dict[str, str]:
        """The entry of PutEvents' ``Entries`` result list."""
        return {"ErrorCode": self.code, "ErrorMessage": self.message}


def _invalid(parameter: str, reason: str) -> EntryError:
    return EntryError("InvalidArgument", f"Parameter {parameter} is not valid. Reason: {reason}")


def bus_name(value: Any) -> str:
    """The bus of an ``EventBusName`` (a name or an event-bus ARN); ``default`` when absent."""
    if value is None or value == "":
        return DEFAULT_BUS
    text = str(value)
    if text.startswith("arn:") and BUS_ARN_MARKER in text:
        return text.rsplit(BUS_ARN_MARKER, 1)[1]
    return text


def entry_size(entry: Mapping[str, Any]) -> int:
    """Entry size as AWS computes it: UTF-8 lengths of its fields, 14 bytes for Time."""
    size = 14 if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        value = entry.get(name)
        if type(value) is str or isinstance(value, str):
            # UTF-8 length without encoding when ASCII (inlined: called twice per entry)
            size += len(value) if value.isascii() else len(value.encode("utf-8"))
    resources = entry.get("Resources")
    if isinstance(resources, list):
        size += sum(utf8_length(str(r)) for r in resources)
    return size


def utf8_length(text: str) -> int:
    """UTF-8 length of ``text`` without encoding it when it is ASCII (a flag check)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def parse_time(value: Any) -> str:
    """``Time`` as RFC 3339: epoch seconds (the JSON 1.1 protocol) or an ISO 8601 string."""
    if isinstance(value, bool):
        raise ValueError("Time must be a timestamp")
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value < 253402300800:
            raise ValueError(f"Time {value!r} is out of range")
        moment = datetime.fromtimestamp(value, tz=UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"Time {value[:40]!r} is not an ISO 8601 timestamp") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    else:
        raise ValueError("Time must be epoch seconds or an ISO 8601 string")
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def entry_to_event(
    entry: Any,
    bus: str,
    *,
    max_event_bytes: int,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CloudEvent | EntryError:
    """One PutEvents entry as a CloudEvent, or the per-entry error AWS would report."""
    form = entry_form(
        entry, bus, max_event_bytes=max_event_bytes, new_id=new_id, now=lambda: format_time(now())
    )
    if isinstance(form, EntryError):
        return form
    try:
        event = CloudEvent.from_json_dict(form)
    except InvalidEventError as exc:
        return _invalid("Entry", f"{exc.message}.")
    return event.keep_json_bytes(entry["Detail"].encode("utf-8"))  # Detail as the client sent it


def entry_form(
    entry: Any,
    bus: str,
    *,
    max_event_bytes: int,
    new_id: Callable[[], str],
    now: Callable[[], str],
    raw_data: bool = False,
) -> dict[str, Any] | EntryError:
    """The checked AWS rules of one entry as a CloudEvent's JSON form (attributes not yet
    checked against the CloudEvents rules), or the per-entry error AWS would report.

    The gateway's hot path (:func:`processor.gateway.putevents.entry_record`) encodes this
    form straight into a Kafka record, asking with ``raw_data`` for ``data`` as the UTF-8
    bytes of ``Detail`` (encoded once for the checks and the record); :func:`entry_to_event`
    builds the pydantic model from it.
    """
    if type(entry) is not dict and not isinstance(entry, Mapping):  # dict: skip the ABC check
        return _invalid("Entry", "each entry must be a JSON object.")
    size = entry_size(entry)
    if size > max_event_bytes:
        return _invalid(
            "Entry", f"entry size {size} bytes exceeds the limit of {max_event_bytes} bytes."
        )
    fields: dict[str, Any] = {}
    for name in ("Source", "DetailType", "Detail"):
        value = entry.get(name)
        if value is None or value == "":
            return _invalid(name, f"{name} is a required argument.")
        if not isinstance(value, str):
            return _invalid(name, f"{name} must be a string.")
        fields[name] = value
    problem = aws_rules.field_problem(entry)
    if problem is not None:
        return EntryError(*problem)
    try:
        detail_bytes = fields["Detail"].encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (only from callers other than HTTP JSON)
        return EntryError("MalformedDetail", "Detail is malformed: it is not valid UTF-8.")
    try:
        detail = orjson.loads(detail_bytes)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):  # orjson stops at 1024 levels; AWS's limit is 1000
            return EntryError("MalformedDetail", "Detail is malformed: nested over 1000 levels.")
        return EntryError("MalformedDetail", "Detail is malformed.")
    if not isinstance(detail, dict):
        return EntryError("MalformedDetail", "Detail is malformed: it must be a JSON object.")
    reason = aws_rules.detail_problem(fields["Detail"], detail, detail_bytes)
    if reason is not None:
        return EntryError("MalformedDetail", f"Detail is malformed: {reason}")
    try:
        time = parse_time(entry["Time"]) if entry.get("Time") is not None else None
    except ValueError as exc:
        return _invalid("Time", f"{exc}.")
    extensions: dict[str, str] = {"kbridgebus": bus}
    source = aws_rules.source_uri(fields["Source"])
    if source != fields["Source"]:  # plain text such as "my source": keep what AWS got
        extensions[aws_rules.ORIGINAL_SOURCE] = fields["Source"]
    resources = entry.get("Resources")
    if resources is not None:
        if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
            return _invalid("Resources", "Resources must be a list of strings.")
        extensions["resources"] = orjson.dumps(resources).decode()
    trace = entry.get("TraceHeader")
    if trace is not None:
        if not isinstance(trace, str):
            return _invalid("TraceHeader", "TraceHeader must be a string.")
        extensions["traceheader"] = trace
    return {
        "specversion": "1.0",
        "id": new_id(),
        "source": source,
        "type": fields["DetailType"],
        "time": time or now(),
        "datacontenttype": "application/json",
        "data": detail_bytes if raw_data else detail,
        **extensions,
    }


def result_body(results: list[dict[str, str]]) -> dict[str, Any]:
    """PutEvents' response: per-entry results in request order and FailedEntryCount."""
    failed = sum(1 for r in results if "ErrorCode" in r)
    return {"FailedEntryCount": failed, "Entries": results}
