"""The pure routing core: one ingress record in, egress and dead-letter records out.

No I/O and no clock of its own (the ingestion time is the ingress record's timestamp), so
both engines share every routing decision and the core is unit-tested without a broker.
Nothing here raises for a bad record: decode and transform failures become dead letters
on ``kbridge.bus.<bus>.dlq`` carrying the original bytes, headers and the reason.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import orjson

from processor.errors import KbridgeError
from processor.events import CloudEvent, decode_json_form, deepjson, encode
from processor.events.attributes import extension_header_text
from processor.kafka import headers as h
from processor.kafka.headers import Stage, dead_letter_headers
from processor.router.records import InRecord, OutRecord, RouteResult
from processor.router.table import Action, BusRoutes, RoutingTable
from processor.transform import TransformError

_NOT_ATTRIBUTES = frozenset({"data", "data_base64", "datacontenttype"})
_STRUCTURED_JSON = b"application/cloudevents+json; charset=utf-8"


def ingestion_time(record: InRecord) -> str:
    """RFC 3339 time at which Kafka accepted the ingress record."""
    millis = record.timestamp_ms if record.timestamp_ms and record.timestamp_ms > 0 else 0
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def aws_view(event: dict[str, Any]) -> dict[str, Any]:
    """The event as AWS-shaped patterns and templates see it.

    An event that arrived through PutEvents is a CloudEvent (``type``, ``data``), yet rules
    written for AWS match ``detail-type`` and ``detail``: the view adds those aliases (and
    the ``resources`` extension as the list it was) when the event does not carry such
    fields itself, so AWS rules carry over unchanged.
    """
    view = dict(event)
    view.setdefault("detail-type", event.get("type"))
    if "data" in event:
        view.setdefault("detail", event["data"])
    resources = event.get("resources")
    if isinstance(resources, str) and resources.startswith("["):
        with contextlib.suppress(orjson.JSONDecodeError):
            view["resources"] = orjson.loads(resources)
    original = event.get("awssource")  # a PutEvents Source that was not a URI (aws_rules)
    if isinstance(original, str):
        view["source"] = original
    return view


def route(table: RoutingTable, record: InRecord) -> RouteResult:
    """Route one ingress record with ``table``; never raises for bad input."""
    bus = table.bus_for_topic(record.topic)
    if bus is None:
        return RouteResult(bus=None, records=[])
    try:
        event = decode_json_form(record.value, record.headers)
    except KbridgeError as exc:
        return _dead_letter(bus, record, "decode", exc.code, exc.message)
    except Exception as exc:  # a decoder bug must not stop the engine either
        return _dead_letter(bus, record, "decode", "decode-failed", repr(exc))

    view = aws_view(event)
    try:
        matched = bus.index.matches(view)
    except KbridgeError as exc:  # an event too costly to match (MatchBudgetExceeded)
        return _dead_letter(bus, record, "decode", exc.code, exc.message)
    replay_id, replay_rule = _replay_marks(record)
    if replay_rule is not None:
        matched = matched & {replay_rule}
    if not matched:
        return RouteResult(bus=bus.name, records=[])

    ingested_at = ingestion_time(record)
    records: list[OutRecord] = []
    for rule in sorted(matched):
        for action in bus.actions.get(rule, ()):
            records.append(_egress(bus, action, record, event, view, ingested_at, replay_id))
    return RouteResult(bus=bus.name, records=records, matched_rules=tuple(sorted(matched)))


def _egress(
    bus: BusRoutes,
    action: Action,
    record: InRecord,
    event: dict[str, Any],
    view: dict[str, Any],
    ingested_at: str,
    replay_id: bytes | None,
) -> OutRecord:
    # only transforms that select AWS-shaped fields see the aliases
    source = view if action.aws_view else event
    try:
        payload = action.transform.apply(
            source, rule_name=action.rule, ingestion_time=ingested_at, bus_name=bus.name
        )
    except TransformError as exc:
        return _dead_letter_record(
            bus, record, "transform", exc.code, exc.message, rule=action.rule, target=action.target
        )
    except Exception as exc:  # an unexpected transform failure is still one event's problem
        return _dead_letter_record(
            bus,
            record,
            "transform",
            "transform-failed",
            repr(exc),
            rule=action.rule,
            target=action.target,
        )
    content_type = action.transform.content_type
    marks = [
        (h.RULE, action.rule.encode()),
        (h.BUS, bus.name.encode()),
        (h.INGESTED_AT, ingested_at.encode()),
    ]
    if replay_id is not None:
        marks.append((h.REPLAY, replay_id))
    value, headers = _encode(action.format, event, payload, content_type)
    return OutRecord(
        topic=action.topic,
        key=record.key,
        value=value,
        headers=headers + marks,
        rule=action.rule,
        target=action.target,
    )


def _encode(
    fmt: str, event: dict[str, Any], payload: str, content_type: str
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The egress CloudEvent (the original attributes, the transformed payload as data)."""
    if fmt == "binary":
        headers = [
            (h.CE_PREFIX + name, extension_header_text(value).encode())
            for name, value in event.items()
            if name not in _NOT_ATTRIBUTES
        ]
        headers.append((h.CONTENT_TYPE, content_type.encode()))
        return payload.encode(), headers
    attributes = {k: v for k, v in event.items() if k not in _NOT_ATTRIBUTES}
    data: Any = orjson.loads(payload) if content_type == "application/json" else payload
    form = {**attributes, "datacontenttype": content_type, "data": data}
    if fmt == "structured":
        return deepjson.dumps(form), [(h.CONTENT_TYPE, _STRUCTURED_JSON)]
    encoded = encode(CloudEvent.from_json_dict(form), "avro")
    return encoded.value or b"", list(encoded.headers)


def _replay_marks(record: InRecord) -> tuple[bytes | None, str | None]:
    replay_id: bytes | None = None
    replay_rule: str | None = None
    for name, value in record.headers or ():
        if name == h.REPLAY and value is not None:
            replay_id = value
        elif name == h.REPLAY_RULE and value:
            replay_rule = value.decode("utf-8", "replace")
    return replay_id, replay_rule


def produce_dead_letter(
    table: RoutingTable, record: InRecord, out: OutRecord, code: str, message: str
) -> OutRecord | None:
    """The dead letter for an egress record that could not be produced (stage ``produce``).

    Carries the original ingress bytes and headers like every router dead letter, plus the
    rule and target whose egress topic refused the write; None when the record's bus is no
    longer configured (nothing can be dead-lettered then).
    """
    bus = table.bus_for_topic(record.topic)
    if bus is None:
        return None
    return _dead_letter_record(
        bus, record, "produce", code, message, rule=out.rule, target=out.target
    )


def _dead_letter(
    bus: BusRoutes, record: InRecord, stage: Stage, code: str, message: str
) -> RouteResult:
    letter = _dead_letter_record(bus, record, stage, code, message)
    return RouteResult(bus=bus.name, records=[letter], error_code=code)


def _dead_letter_record(
    bus: BusRoutes,
    record: InRecord,
    stage: Stage,
    code: str,
    message: str,
    *,
    rule: str | None = None,
    target: str | None = None,
) -> OutRecord:
    """The original bytes and headers plus why routing failed."""
    headers = dead_letter_headers(
        record.headers or (),
        code=code,
        message=message,
        stage=stage,
        bus=bus.name,
        where=record.where(),
        rule=rule,
        target=target,
    )
    return OutRecord(
        topic=bus.dlq_topic,
        key=record.key,
        value=record.value,
        headers=headers,
        rule=rule,
        target=target,
        dead_letter=True,
    )
