"""Topic names: every kbridge topic is derived here, nowhere else.

Names follow the design (``kbridge.bus.<bus>``, ``kbridge.target.<target>``, ...), so an
operator can tell from a topic name which bus or target it belongs to.
"""

from __future__ import annotations

import functools
import re

PREFIX = "kbridge"
RULES_TOPIC = f"{PREFIX}.rules"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def check_name(name: str, kind: str = "name") -> str:
    """Reject names that would make an invalid or ambiguous topic name."""
    if not _NAME.match(name):
        raise ValueError(f"invalid {kind} {name!r}: use 1-200 letters, digits, '-' or '_'")
    return name


@functools.lru_cache(maxsize=10_000)
def bus_topic(bus: str) -> str:
    """Ingress topic of a bus (remembered, bounded: the gateway asks once per request)."""
    return f"{PREFIX}.bus.{check_name(bus, 'bus name')}"


def bus_dlq_topic(bus: str) -> str:
    """Dead-letter topic for records the router could not decode or transform."""
    return f"{bus_topic(bus)}.dlq"


def target_topic(target: str) -> str:
    """Egress topic of a target, drained by its sink workers."""
    return f"{PREFIX}.target.{check_name(target, 'target name')}"


def target_dlq_topic(target: str) -> str:
    """Dead-letter topic for deliveries a sink gave up on."""
    return f"{PREFIX}.dlq.{check_name(target, 'target name')}"


TRACE_TOPIC = f"{PREFIX}.trace"
"""Trace records of every stage, keyed by event id (processor/trace, docs/tracing.md)."""


def schedule_state_topic() -> str:
    """Compacted topic holding the last tick of each schedule source."""
    return f"{PREFIX}.schedules"
