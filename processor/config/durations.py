"""Durations written the way operators write them: ``90s``, ``15m``, ``24h``, ``7d``.

Config fields that hold a duration accept such a string or a number of seconds and store
seconds (a float), so code reading the model never parses units again.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d|w)?\s*$"


def parse_duration(value: Any) -> float:
    """Seconds in ``value`` (a number of seconds or a string like ``"15m"``).

    Raises ``ValueError`` (which pydantic reports against the field) for anything else.
    """
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like 90s, 15m, 24h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(
                f"invalid duration {value!r}: use a number of seconds or a number "
                "followed by ms, s, m, h, d or w (e.g. 90s, 15m, 24h, 7d)"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ValueError("a duration must be a number of seconds or a string like 90s, 15m, 24h")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact human form of ``seconds`` (``604800`` -> ``"7d"``), for tables."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and float(seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "description": "seconds"},
                {"type": "string", "pattern": DURATION_PATTERN},
            ],
            "description": "A duration: seconds, or a number with a unit (90s, 15m, 24h, 7d).",
        }
    ),
]
"""A duration field: accepts ``"24h"``, ``"90s"`` or seconds; holds seconds."""
