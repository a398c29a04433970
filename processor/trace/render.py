"""A timeline as people and programs read it: a table, or JSON. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from processor.trace.record import TraceRecord


def when(at: float) -> str:
    """``at`` as RFC 3339 UTC with milliseconds."""
    moment = datetime.fromtimestamp(at, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def detail(rec: TraceRecord) -> str:
    """One line saying what the stage did, for the table's last column."""
    parts: list[str] = []
    if rec.stage == "accepted":
        parts.append(f"bus {rec.bus} partition {rec.partition} offset {rec.offset}")
        if rec.source or rec.type:
            parts.append(f"source {rec.source} type {rec.type}")
    elif rec.stage in ("routed", "unmatched", "router-dead-lettered"):
        parts.append("rules " + (", ".join(rec.rules) or "none"))
        if rec.targets:
            parts.append("to " + ", ".join(rec.targets))
    else:
        parts.append(f"target {rec.target}")
        if rec.rule:
            parts.append(f"rule {rec.rule}")
        if rec.attempts is not None:
            parts.append(f"{rec.attempts} attempt{'s' if rec.attempts != 1 else ''}")
        if rec.latency_ms is not None:
            parts.append(f"{rec.latency_ms:g} ms after ingestion")
        if rec.stage == "retried":
            if rec.retry_in_ms is not None:
                parts.append(f"retry in {rec.retry_in_ms:g} ms")
            elif rec.condition:
                parts.append(f"{rec.condition}: held until it answers")
        elif rec.condition:
            parts.append(f"gave up: {rec.condition}")
    if rec.error_code:
        parts.append(f"error {rec.error_code}: {rec.error_message or ''}".rstrip(": "))
    return "; ".join(parts)


def as_json(event_id: str, records: list[TraceRecord]) -> dict[str, Any]:
    """``{"event_id", "outcome", "timeline": [...]}`` (the HTTP answer and ``-o json``)."""
    return {
        "event_id": event_id,
        "outcome": outcome(records),
        "timeline": [{**rec.to_json(), "time": when(rec.at)} for rec in records],
    }


def outcome(records: list[TraceRecord]) -> str:
    """The latest stage reached, ``not-found`` when nothing was traced."""
    if not records:
        return "not-found"
    return records[-1].stage
