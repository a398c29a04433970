"""Cross-checks of a whole configuration: unique names, references, patterns, transforms.

Kept apart from the models (which validate each object alone) because the live store must
accept objects in any order; ``kbridge validate``/``apply`` and the management API run
these checks before anything is published.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from processor.config.model import SECTIONS, ConfigObject, KbridgeConfig, ObjectKind
from processor.config.problems import ConfigProblem
from processor.config.rules import Rule
from processor.config.sources import AnySource
from processor.config.targets import AnyTarget, FunctionTarget, WebhookTarget
from processor.config.wording import suggest

log = logging.getLogger(__name__)


def check_config(
    config: KbridgeConfig, *, compile_rules: bool = True, duplicates: bool = True
) -> list[ConfigProblem]:
    """Every cross-object problem of ``config``; empty when it is consistent.

    With ``compile_rules`` each rule's pattern (:mod:`processor.patterns`) and each
    target's transform (:mod:`processor.transform`) are compiled too. The loader checks
    ``duplicates`` itself (it knows in which files the two definitions are).
    """
    problems = list(_duplicates(config)) if duplicates else []
    problems.extend(_references(config))
    if compile_rules:
        for rule in config.rules:
            problems.extend(check_rule_compiles(rule))
    return problems


def _duplicates(config: KbridgeConfig) -> Iterator[ConfigProblem]:
    for kind, section in SECTIONS.items():
        seen: set[str] = set()
        for obj in config.section(kind):
            if obj.name in seen:
                yield ConfigProblem(
                    f"{section}[{obj.name}].name", f"duplicate {kind} name {obj.name!r}"
                )
            seen.add(obj.name)


def _references(config: KbridgeConfig) -> Iterator[ConfigProblem]:
    buses = {bus.name for bus in config.buses}
    targets = {target.name for target in config.targets}
    connections = {conn.name for conn in config.connections}
    for rule in config.rules:
        yield from rule_reference_problems(rule, buses, targets)
    for target in config.targets:
        yield from _target_references(target, buses, connections)
    for source in config.sources:
        yield from _source_references(source, buses)


def rule_reference_problems(
    rule: Rule, buses: set[str] | frozenset[str], targets: set[str] | frozenset[str]
) -> Iterator[ConfigProblem]:
    """Problems with what ``rule`` refers to, given the defined bus and target names."""
    where = f"rules[{rule.name}]"
    if rule.bus not in buses:
        yield ConfigProblem(
            f"{where}.bus", f"bus {rule.bus!r} is not defined{_known(rule.bus, buses)}"
        )
    for index, entry in enumerate(rule.targets):
        if entry.target not in targets:
            yield ConfigProblem(
                f"{where}.targets[{index}].target",
                f"target {entry.target!r} is not defined{_known(entry.target, targets)}",
            )


def _known(name: str, names: set[str] | frozenset[str]) -> str:
    """`` (did you mean 'x'? known: a, b)``: the defined names, the closest first."""
    if not names:
        return " (none are defined)"
    return f" ({suggest(name, names)}known: {', '.join(sorted(names))})"


def _target_references(
    target: AnyTarget, buses: set[str], connections: set[str]
) -> Iterator[ConfigProblem]:
    where = f"targets[{target.name}]"
    if (
        isinstance(target, WebhookTarget)
        and target.connection is not None
        and target.connection not in connections
    ):
        yield ConfigProblem(
            f"{where}.connection",
            f"connection {target.connection!r} is not defined"
            f"{_known(target.connection, connections)}",
        )
    if (
        isinstance(target, FunctionTarget)
        and target.publish_to_bus is not None
        and target.publish_to_bus not in buses
    ):
        yield ConfigProblem(
            f"{where}.publish_to_bus",
            f"bus {target.publish_to_bus!r} is not defined{_known(target.publish_to_bus, buses)}",
        )


def _source_references(source: AnySource, buses: set[str]) -> Iterator[ConfigProblem]:
    if source.bus not in buses:
        yield ConfigProblem(
            f"sources[{source.name}].bus",
            f"bus {source.bus!r} is not defined{_known(source.bus, buses)}",
        )


def check_rule_compiles(rule: Rule) -> list[ConfigProblem]:
    """Problems compiling ``rule``'s pattern and each of its transforms (AWS wording)."""
    from processor.patterns import compile_pattern
    from processor.transform import compile_transform

    where = f"rules[{rule.name}]"
    problems = []
    try:
        compile_pattern(rule.pattern)
    except ValueError as exc:  # PatternError
        problems.append(ConfigProblem(f"{where}.pattern", str(exc)))
    for index, entry in enumerate(rule.targets):
        try:
            compile_transform(entry.transform)
        except ValueError as exc:  # TransformSpecError
            problems.append(ConfigProblem(f"{where}.targets[{index}].transform", str(exc)))
    return problems


def check_object(
    kind: ObjectKind, obj: ConfigObject, live: KbridgeConfig, *, compile_rules: bool = True
) -> list[ConfigProblem]:
    """Problems of putting ``obj`` into the ``live`` configuration (the management API's
    check before it publishes one object): its references, and a rule's pattern/transforms."""
    others = [(k, o) for k, o in live.objects() if not (k == kind and o.name == obj.name)]
    merged = KbridgeConfig.unchecked([*others, (kind, obj)])
    where = f"{SECTIONS[kind]}[{obj.name}]"
    problems = [
        problem
        for problem in _references(merged)
        if problem.location == where or problem.location.startswith((f"{where}.", f"{where}["))
    ]
    if compile_rules and isinstance(obj, Rule):
        problems.extend(check_rule_compiles(obj))
    return problems


def dependents(config: KbridgeConfig, kind: ObjectKind, name: str) -> list[str]:
    """``<kind>/<name>`` of every object of ``config`` that refers to ``kind``/``name``
    (deleting it would leave them dangling)."""
    found: list[str] = []
    for rule in config.rules:
        if (kind == "bus" and rule.bus == name) or (
            kind == "target" and name in rule.target_names()
        ):
            found.append(f"rule/{rule.name}")
    for target in config.targets:
        if (
            kind == "connection" and isinstance(target, WebhookTarget) and target.connection == name
        ) or (
            kind == "bus" and isinstance(target, FunctionTarget) and target.publish_to_bus == name
        ):
            found.append(f"target/{target.name}")
    if kind == "bus":
        found.extend(f"source/{source.name}" for source in config.sources if source.bus == name)
    return found
