"""Testing an event pattern against an event (``TestEventPattern`` and the management API).

Uses :func:`processor.patterns.compile_pattern`, so the answer is the one the router gives;
an invalid pattern is refused with AWS's wording ("Event pattern is not valid. Reason: ...").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson


class PatternTestError(Exception):
    """The pattern or the event is invalid; ``kind`` is ``pattern`` or ``event``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _load(value: Any, what: str) -> Any:
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise PatternTestError(what, f"{what} is not valid JSON: {exc}") from None
    return value


def evaluate_pattern(pattern: Any, event: Any) -> bool:
    """Whether ``event`` (JSON text or object) matches ``pattern`` (JSON text or object)."""
    from processor.patterns import PatternError, compile_pattern

    if pattern is None or pattern == "":
        raise PatternTestError("pattern", "Event pattern is not valid. Reason: pattern is required")
    loaded_event = _load(event, "event")
    if not isinstance(loaded_event, Mapping):
        raise PatternTestError("event", "event must be a JSON object")
    source: Any = pattern if isinstance(pattern, str | Mapping) else None
    if source is None:
        raise PatternTestError(
            "pattern", "Event pattern is not valid. Reason: pattern must be a JSON object"
        )
    try:
        compiled = compile_pattern(source)
    except PatternError as exc:
        raise PatternTestError("pattern", str(exc)) from None
    return bool(compiled.matches(loaded_event))
