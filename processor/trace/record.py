"""The trace record: one small JSON document per event per stage, keyed by the event id.

Pure (no Kafka client, no clock): writers pass the time in, readers get a
:class:`TraceRecord` back. The format is versioned (``v``) so that a newer reader can
skip fields it does not know and an older one ignores new ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Final

import orjson

VERSION: Final = 1

ACCEPTED: Final = "accepted"
"""The gateway or a source wrote the event to its bus topic (Kafka acknowledged)."""
ROUTED: Final = "routed"
"""The router matched rules and produced to the targets' egress topics."""
UNMATCHED: Final = "unmatched"
"""The router matched no rule: the event goes nowhere (not an error)."""
ROUTER_DEAD_LETTER: Final = "router-dead-lettered"
"""The router could not decode or transform it: it is on ``kbridge.bus.<bus>.dlq``."""
DELIVERED: Final = "delivered"
"""A sink worker delivered it to a target."""
RETRIED: Final = "retried"
"""A sink's delivery attempt failed and will be retried (or the destination is down)."""
DEAD_LETTERED: Final = "dead-lettered"
"""A sink worker gave up: it is on ``kbridge.dlq.<target>`` with the error."""

STAGES: Final = (
    ACCEPTED,
    ROUTED,
    UNMATCHED,
    ROUTER_DEAD_LETTER,
    RETRIED,
    DELIVERED,
    DEAD_LETTERED,
)

PHASES: Final = {
    ACCEPTED: 0,
    ROUTED: 1,
    UNMATCHED: 1,
    ROUTER_DEAD_LETTER: 1,
    RETRIED: 2,
    DELIVERED: 2,
    DEAD_LETTERED: 2,
}
"""Each stage's place in an event's causal order: ingested, routed, then delivered.

A timeline sorts by phase before time because the stages' clocks are not comparable to
the millisecond: the gateway stamps ``accepted`` when its handler sees the ack, and on a
busy machine the router may already have routed the event by then (or runs on another
host whose clock is a little behind)."""


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """What one stage did with one event; absent fields are simply not written."""

    event_id: str
    stage: str
    at: float
    """Epoch seconds (millisecond precision) when the stage finished with the event."""
    by: str
    """The writer: ``gateway``, ``source:<name>``, ``router``, ``sink``."""
    bus: str | None = None
    source: str | None = None
    type: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    rules: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    target: str | None = None
    rule: str | None = None
    attempts: int | None = None
    latency_ms: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    condition: str | None = None
    retry_in_ms: float | None = None
    traceparent: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record as written: empty and ``None`` fields left out.

        A plain loop over the fields, not ``dataclasses.asdict`` (which deep-copies and
        took most of the writer's 40 µs per record; this is on every stage's hot path).
        """
        out: dict[str, Any] = {"v": VERSION}
        for name in _NAMES:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, tuple | dict):
                if not value:
                    continue
                value = list(value) if isinstance(value, tuple) else value
            out[name] = value
        return out

    def encode(self) -> bytes:
        """The Kafka record value."""
        return orjson.dumps(self.to_json())


_NAMES: Final = tuple(f.name for f in fields(TraceRecord))
_FIELDS: Final = frozenset(_NAMES)


def decode_all(value: bytes | None, event_id: str | None = None) -> list[TraceRecord]:
    """Every trace record in one Kafka record value (``event_id``: only that event's).

    The writer joins many trace records into one Kafka record, one JSON document per line
    (JSON text never holds a raw newline); records written before that hold one document,
    which is the one-line case. With ``event_id``, a line is decoded only if it contains
    the id's JSON form (a C substring search), so a lookup skips other events cheaply.
    """
    if not value:
        return []
    needle = b'"event_id":' + orjson.dumps(event_id) if event_id is not None else None
    if needle is not None and needle not in value:
        return []
    found = []
    for line in value.split(b"\n"):
        if needle is not None and needle not in line:
            continue
        rec = decode(line)
        if rec is not None and (event_id is None or rec.event_id == event_id):
            found.append(rec)
    return found


def decode(value: bytes | None) -> TraceRecord | None:
    """A record read back from ``kbridge.trace``; ``None`` for anything that is not one."""
    if not value:
        return None
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("event_id"), str):
        return None
    if not isinstance(raw.get("stage"), str) or not isinstance(raw.get("at"), int | float):
        return None
    known = {k: v for k, v in raw.items() if k in _FIELDS}
    for name in ("rules", "targets"):
        if isinstance(known.get(name), list):
            known[name] = tuple(str(x) for x in known[name])
        else:
            known.pop(name, None)
    known.setdefault("by", "?")
    try:
        return TraceRecord(**known)
    except TypeError:
        return None
