"""EventBridge-compatible event patterns: validation, one compiled index per bus.

Public surface (everything else in this package is internal)::

    from processor.patterns import compile_pattern, PatternError, RuleIndex
    p = compile_pattern('{"source": ["saas.github"]}')  # raises PatternError(ValueError)
    p.matches(event)                                    # str | bytes | mapping -> bool
    idx = RuleIndex(); idx.add("r1", p); idx.remove("r1")
    idx.matches(event)                                  # -> set of rule names

``RuleIndex.matches`` takes an already-parsed ``dict`` as is, so the router parses each
event once (orjson) and never re-serialises it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processor.patterns.errors import PatternError
from processor.patterns.events import load_event
from processor.patterns.index import CompiledIndex
from processor.patterns.model import CompiledPattern
from processor.patterns.parser import parse_pattern

Event = str | bytes | Mapping[str, Any]
PatternSource = str | bytes | Mapping[str, Any]

__all__ = ["Pattern", "PatternError", "RuleIndex", "compile_pattern"]


class Pattern:
    """A validated event pattern; immutable, cheap to share between indexes."""

    __slots__ = ("_compiled", "_index")

    def __init__(self, compiled: CompiledPattern) -> None:
        self._compiled = compiled
        self._index = CompiledIndex()
        self._index.add("", compiled)

    @property
    def source(self) -> str:
        """The pattern as JSON text."""
        return self._compiled.source

    def matches(self, event: Event) -> bool:
        """Whether ``event`` (JSON text, bytes or a mapping) matches this pattern."""
        return bool(self._index.matches(event))

    def __repr__(self) -> str:
        return f"Pattern({self._compiled.source})"


def compile_pattern(pattern: PatternSource | Pattern) -> Pattern:
    """Validate ``pattern`` (JSON text or a mapping); raise :class:`PatternError` if invalid."""
    if isinstance(pattern, Pattern):
        return pattern
    return Pattern(parse_pattern(pattern))


class RuleIndex:
    """All rules of one bus, matched together at a cost that does not grow with their number.

    Not thread-safe: give each worker its own index, or serialise changes with matching.
    """

    __slots__ = ("_index",)

    def __init__(self) -> None:
        self._index = CompiledIndex()

    def add(self, name: str, pattern: PatternSource | Pattern) -> None:
        """Add a rule, replacing any rule of the same name; invalid patterns raise first."""
        compiled = compile_pattern(pattern)._compiled
        self._index.add(name, compiled)

    def remove(self, name: str) -> None:
        """Remove a rule; ``KeyError`` if the index has no rule of that name."""
        if name not in self._index:
            raise KeyError(name)
        self._index.remove(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._index

    def __len__(self) -> int:
        return len(self._index)

    def names(self) -> list[str]:
        """Rule names in insertion order."""
        return self._index.names()

    def matches(self, event: Event) -> set[str]:
        """Names of the rules matching ``event``; a ``dict`` is used without re-parsing."""
        return self._index.matches(event)


def _reference_matches(pattern: Pattern, event: Event) -> bool:
    """The naive matcher, for tests and benchmarks only."""
    from processor.patterns.reference import reference_matches

    return reference_matches(pattern._compiled, load_event(event))
