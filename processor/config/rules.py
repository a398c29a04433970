"""Rules: an event pattern on one bus and the targets that matching events go to.

A rule is data (as in event-ruler): the models here only check structure; compiling the
pattern and the transforms is a cross-check in :mod:`processor.config.checks`, so that a
snapshot can always be built even when a rule arrives before what it refers to.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from processor.config._base import ConfigModel, Description, Name
from processor.config.durations import Duration

MAX_ATTEMPTS_LIMIT = 185
"""EventBridge's ceiling for retry attempts."""
MIN_MAX_AGE = 60.0
MAX_MAX_AGE = 86400.0


class RetryPolicy(ConfigModel):
    """How long a sink keeps retrying one event before dead-lettering it (EventBridge's policy).

    ``max_age`` is in seconds (``"24h"``, ``"90s"`` or a number are accepted).
    """

    max_attempts: Annotated[int, Field(ge=0, le=MAX_ATTEMPTS_LIMIT)] = MAX_ATTEMPTS_LIMIT
    """Delivery attempts before the event is dead-lettered (EventBridge's ceiling: 185)."""
    max_age: Annotated[
        Duration, Field(ge=MIN_MAX_AGE, le=MAX_MAX_AGE, examples=["24h", "15m", 3600])
    ] = MAX_MAX_AGE
    """Oldest event age still retried (60 s to 24 h)."""


def _json_object(value: Any) -> Any:
    """Accept a JSON string where a mapping is expected (the management API sends those)."""
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
    return value


class RuleTarget(ConfigModel):
    """One target of a rule, with its transformation and retry policy."""

    target: Name
    """Name of a target in `targets`."""
    transform: Annotated[
        dict[str, Any] | None,
        Field(
            examples=[
                {"path": "$.data"},
                {"input_paths": {"id": "$.id"}, "input_template": '{"event": <id>}'},
                {"constant": {"ok": True}},
            ]
        ),
    ] = None
    """What the target receives (see [transformations.md](transformations.md)); absent = the
    whole event. A mapping or a JSON string."""
    retry: RetryPolicy = RetryPolicy()
    """How long the sink retries before dead-lettering."""

    _parse_transform = field_validator("transform", mode="before")(_json_object)


class Rule(ConfigModel):
    """Events on ``bus`` matching ``pattern`` are routed to every entry of ``targets``."""

    name: Name
    """Rule name; marks routed records (`kbridge-rule` header)."""
    bus: Name
    """The bus whose events this rule sees."""
    description: Description = ""
    """Free text."""
    enabled: bool = True
    """`false` keeps the rule but routes nothing."""
    pattern: Annotated[
        dict[str, Any],
        Field(examples=[{"source": ["saas.questionnaire"], "data": {"status": ["completed"]}}]),
    ]
    """Event pattern (see [patterns.md](patterns.md)); a mapping or a JSON string."""
    targets: Annotated[list[RuleTarget], Field(max_length=100)] = Field(default_factory=list)
    """Where matching events go; a target may appear once per rule."""

    _parse_pattern = field_validator("pattern", mode="before")(_json_object)

    @model_validator(mode="after")
    def _targets_unique(self) -> Rule:
        """(rule, target) identifies an egress route, so a target may appear once per rule."""
        seen: set[str] = set()
        for entry in self.targets:
            if entry.target in seen:
                raise ValueError(f"target {entry.target!r} is listed twice in this rule")
            seen.add(entry.target)
        return self

    def target_names(self) -> list[str]:
        """Names of the targets this rule routes to, in order."""
        return [entry.target for entry in self.targets]
