"""The whole routing configuration: what one kbridge.yaml holds and what the store serves.

:class:`KbridgeConfig` validates each object on its own. References between objects (a
rule's bus and targets, a webhook's connection) are checked by
:func:`processor.config.checks.check_config`, not here, because a live snapshot built from
the ``kbridge.rules`` topic may briefly hold a rule whose target has not arrived yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal, TypeAlias

from processor.config._base import ConfigModel
from processor.config.buses import Bus
from processor.config.connections import (
    ApiKeyConnection,
    BasicConnection,
    Connection,
    OAuthClientCredentialsConnection,
)
from processor.config.rules import Rule
from processor.config.sources import AnySource, Source
from processor.config.targets import AnyTarget, Target

ObjectKind: TypeAlias = Literal["bus", "connection", "target", "source", "rule"]
AnyConnection: TypeAlias = BasicConnection | ApiKeyConnection | OAuthClientCredentialsConnection
ConfigObject: TypeAlias = Bus | AnyConnection | AnyTarget | AnySource | Rule

KINDS: tuple[ObjectKind, ...] = ("bus", "connection", "target", "source", "rule")
"""Object kinds in dependency order: publish in this order, delete in reverse."""

SECTIONS: dict[ObjectKind, str] = {
    "bus": "buses",
    "connection": "connections",
    "target": "targets",
    "source": "sources",
    "rule": "rules",
}
"""The kbridge.yaml section (and ``kbridge get`` argument) of each kind."""

KIND_OF_SECTION: dict[str, ObjectKind] = {section: kind for kind, section in SECTIONS.items()}


class KbridgeConfig(ConfigModel):
    """Buses, connections, targets, sources and rules; each section a list of named objects."""

    buses: tuple[Bus, ...] = ()
    """Event buses (one ingress topic each)."""
    connections: tuple[Connection, ...] = ()
    """Reusable credentials for webhook targets."""
    targets: tuple[Target, ...] = ()
    """Where routed events are delivered."""
    sources: tuple[Source, ...] = ()
    """Where events come from (webhooks, brokers, schedules)."""
    rules: tuple[Rule, ...] = ()
    """Patterns on a bus and the targets of matching events."""

    @classmethod
    def from_objects(cls, objects: Iterable[tuple[ObjectKind, ConfigObject]]) -> KbridgeConfig:
        """Assemble a config from ``(kind, object)`` pairs (the store's state)."""
        sections: dict[str, list[ConfigObject]] = {section: [] for section in SECTIONS.values()}
        for kind, obj in objects:
            sections[SECTIONS[kind]].append(obj)
        return cls.model_validate(sections)

    @classmethod
    def unchecked(cls, objects: Iterable[tuple[ObjectKind, ConfigObject]]) -> KbridgeConfig:
        """Assemble already-validated objects without validating again (live snapshots)."""
        sections: dict[str, list[ConfigObject]] = {section: [] for section in SECTIONS.values()}
        for kind, obj in objects:
            sections[SECTIONS[kind]].append(obj)
        fields: dict[str, Any] = {section: tuple(objs) for section, objs in sections.items()}
        return cls.model_construct(**fields)

    def section(self, kind: ObjectKind) -> tuple[ConfigObject, ...]:
        """All objects of ``kind``."""
        objects: tuple[ConfigObject, ...] = getattr(self, SECTIONS[kind])
        return objects

    def objects(self) -> Iterator[tuple[ObjectKind, ConfigObject]]:
        """Every ``(kind, object)`` in dependency order (buses first, rules last)."""
        for kind in KINDS:
            for obj in self.section(kind):
                yield kind, obj

    def get(self, kind: ObjectKind, name: str) -> ConfigObject | None:
        """The object of ``kind`` called ``name``, or ``None``."""
        for obj in self.section(kind):
            if obj.name == name:
                return obj
        return None

    def bus(self, name: str) -> Bus | None:
        """The bus called ``name``, or ``None``."""
        return next((bus for bus in self.buses if bus.name == name), None)

    def target(self, name: str) -> AnyTarget | None:
        """The target called ``name``, or ``None``."""
        return next((target for target in self.targets if target.name == name), None)

    def connection(self, name: str) -> AnyConnection | None:
        """The connection called ``name``, or ``None``."""
        return next((conn for conn in self.connections if conn.name == name), None)

    def source(self, name: str) -> AnySource | None:
        """The source called ``name``, or ``None``."""
        return next((source for source in self.sources if source.name == name), None)

    def rule(self, name: str) -> Rule | None:
        """The rule called ``name``, or ``None``."""
        return next((rule for rule in self.rules if rule.name == name), None)

    def rules_for_bus(self, bus: str, *, enabled_only: bool = True) -> list[Rule]:
        """The rules of ``bus`` (only enabled ones unless ``enabled_only=False``)."""
        return [
            rule for rule in self.rules if rule.bus == bus and (rule.enabled or not enabled_only)
        ]

    def counts(self) -> dict[str, int]:
        """Number of objects per section, for summaries."""
        return {section: len(self.section(kind)) for kind, section in SECTIONS.items()}
