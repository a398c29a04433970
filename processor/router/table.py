"""Compiled routing state: per bus one RuleIndex and, per rule, its (target, transform) actions.

Built from a configuration snapshot. The engines read a table from their own thread while
the config store's thread builds the next one, so tables are never mutated once published:
:meth:`RoutingTable.rebuild` returns a new table that reuses every compiled pattern and
transform whose source did not change (a change to one rule compiles one rule).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from processor.config import KbridgeConfig, Rule
from processor.kafka.topics import bus_dlq_topic, bus_topic, target_topic
from processor.patterns import Pattern, PatternError, RuleIndex, compile_pattern
from processor.transform import Transform, TransformSpecError, compile_transform

log = logging.getLogger(__name__)


_AWS_FIELDS = ("detail", "detail-type", "resources")


def uses_aws_fields(spec: Mapping[str, Any] | None) -> bool:
    """Whether a transform spec selects AWS-shaped fields (``$.detail...`` and friends).

    Such transforms are applied to the router's AWS view of the event (which adds those
    aliases); every other transform sees the CloudEvent exactly as it is, so that
    ``<kbridge.event>`` and the whole event never carry the aliases.
    """
    if not spec:
        return False
    paths = [spec.get("path"), *(spec.get("input_paths") or {}).values()]
    for path in paths:
        if not isinstance(path, str):
            continue
        head = path.removeprefix("$").lstrip(".").lstrip("['\"")
        if any(
            head == field or head.startswith((field + ".", field + "[", field + "'"))
            for field in _AWS_FIELDS
        ):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Action:
    """Send a matched event, transformed, to one target's egress topic."""

    rule: str
    target: str
    topic: str
    transform: Transform
    format: str = "binary"
    aws_view: bool = False


@dataclass(frozen=True)
class BusRoutes:
    """One bus: its index over enabled rules and the actions of each rule."""

    name: str
    topic: str
    dlq_topic: str
    index: RuleIndex
    actions: Mapping[str, tuple[Action, ...]]


@dataclass(frozen=True)
class RoutingTable:
    """All buses by ingress topic; immutable once built."""

    by_topic: Mapping[str, BusRoutes] = field(default_factory=dict)
    _patterns: Mapping[tuple[str, str], Pattern] = field(default_factory=dict)
    _transforms: Mapping[str, Transform] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: KbridgeConfig) -> RoutingTable:
        """Compile every enabled rule of ``config``."""
        return cls().rebuild(config)

    def bus_for_topic(self, topic: str) -> BusRoutes | None:
        """The bus whose ingress topic is ``topic``."""
        return self.by_topic.get(topic)

    def rebuild(self, config: KbridgeConfig) -> RoutingTable:
        """A new table for ``config``, reusing compiled patterns and transforms."""
        patterns: dict[tuple[str, str], Pattern] = {}
        transforms: dict[str, Transform] = {}
        by_topic: dict[str, BusRoutes] = {}
        for bus in config.buses:
            index = RuleIndex()
            actions: dict[str, tuple[Action, ...]] = {}
            for rule in config.rules_for_bus(bus.name):
                pattern = self._pattern(rule, patterns)
                if pattern is None:
                    continue
                rule_actions = self._actions(rule, config, transforms)
                if not rule_actions:
                    continue
                index.add(rule.name, pattern)
                actions[rule.name] = rule_actions
            routes = BusRoutes(
                name=bus.name,
                topic=bus_topic(bus.name),
                dlq_topic=bus_dlq_topic(bus.name),
                index=index,
                actions=actions,
            )
            by_topic[routes.topic] = routes
        return RoutingTable(by_topic, patterns, transforms)

    def _pattern(self, rule: Rule, cache: dict[tuple[str, str], Pattern]) -> Pattern | None:
        source = json.dumps(rule.pattern, sort_keys=True)
        key = (rule.name, source)
        pattern = self._patterns.get(key)
        if pattern is None:
            try:
                pattern = compile_pattern(rule.pattern)
            except PatternError as exc:
                log.warning("rule skipped: %s", exc, extra={"rule": rule.name})
                return None
        cache[key] = pattern
        return pattern

    def _actions(
        self, rule: Rule, config: KbridgeConfig, cache: dict[str, Transform]
    ) -> tuple[Action, ...]:
        actions: list[Action] = []
        for entry in rule.targets:
            target = config.target(entry.target)
            if target is None:
                log.warning(
                    "rule target skipped: target %r is not defined (yet)",
                    entry.target,
                    extra={"rule": rule.name, "target": entry.target},
                )
                continue
            transform = self._transform(rule.name, entry.transform, cache)
            if transform is None:
                continue
            actions.append(
                Action(
                    rule=rule.name,
                    target=target.name,
                    topic=target_topic(target.name),
                    transform=transform,
                    format=target.format,
                    aws_view=uses_aws_fields(entry.transform),
                )
            )
        return tuple(actions)

    def _transform(
        self, rule: str, spec: Mapping[str, Any] | None, cache: dict[str, Transform]
    ) -> Transform | None:
        key = json.dumps(spec, sort_keys=True)
        transform = cache.get(key) or self._transforms.get(key)
        if transform is None:
            try:
                transform = compile_transform(spec)
            except TransformSpecError as exc:
                log.warning("rule target skipped: %s", exc, extra={"rule": rule})
                return None
        cache[key] = transform
        return transform
