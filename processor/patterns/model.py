"""The compiled form of a pattern: sub-rules of clauses of matchers.

A pattern is an OR of *sub-rules* (one per combination of ``$or`` branches); a sub-rule is
an AND of *clauses*, one per field path; a clause is an OR of *matchers*. Both the naive
reference matcher and the index consume this form, so that they can only differ in how
they search, never in what a pattern means.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field


class MatchKind(enum.Enum):
    """The closed set of operators of the EventBridge pattern language."""

    EXACT = "exact"
    PREFIX = "prefix"
    PREFIX_IC = "prefix-ignore-case"
    SUFFIX = "suffix"
    SUFFIX_IC = "suffix-ignore-case"
    EQUALS_IC = "equals-ignore-case"
    WILDCARD = "wildcard"
    NUMERIC = "numeric"
    EXISTS = "exists"
    ABSENT = "exists-false"
    CIDR = "cidr"
    ANYTHING_BUT = "anything-but"
    ANYTHING_BUT_IC = "anything-but-ignore-case"
    ANYTHING_BUT_PREFIX = "anything-but-prefix"
    ANYTHING_BUT_SUFFIX = "anything-but-suffix"
    ANYTHING_BUT_WILDCARD = "anything-but-wildcard"


ExactKey = str | tuple[str, object]
"""Hashable identity of a JSON leaf: the string itself, or a tagged tuple for the rest."""


@dataclass(frozen=True)
class NumericRange:
    """An interval of doubles; ``lo``/``hi`` are +-inf when the side is open-ended."""

    lo: float
    lo_inclusive: bool
    hi: float
    hi_inclusive: bool

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies in the interval."""
        if x < self.lo or (x == self.lo and not self.lo_inclusive):
            return False
        return not (x > self.hi or (x == self.hi and not self.hi_inclusive))


@dataclass(frozen=True)
class CidrRange:
    """An IP block as an inclusive integer range within one address family."""

    version: int
    lo: int
    hi: int


@dataclass(frozen=True)
class Wildcard:
    """A parsed wildcard: literal chunks between ``*``; ``regex`` matches the whole value."""

    source: str
    chunks: tuple[str, ...]
    regex: re.Pattern[str]


@dataclass(frozen=True)
class Matcher:
    """One operator with its operand(s), already validated and normalised.

    ``value`` depends on ``kind``: an :data:`ExactKey` for EXACT; a ``str`` for the string
    operators (case-folded for the ``_IC`` kinds); a :class:`Wildcard`; a
    :class:`NumericRange`; a :class:`CidrRange`; a ``frozenset`` of keys or strings, or a
    tuple of :class:`Wildcard` for the anything-but kinds; ``None`` for EXISTS/ABSENT.
    """

    kind: MatchKind
    value: object = None


@dataclass(frozen=True)
class Clause:
    """Field ``path`` (dot-joined) must satisfy at least one of ``matchers``."""

    path: str
    matchers: tuple[Matcher, ...]

    @property
    def absent_ok(self) -> bool:
        """Whether the clause also holds when the field is missing (``exists: false``)."""
        return any(m.kind is MatchKind.ABSENT for m in self.matchers)

    @property
    def positive(self) -> tuple[Matcher, ...]:
        """The matchers that need a value to be present."""
        return tuple(m for m in self.matchers if m.kind is not MatchKind.ABSENT)


@dataclass(frozen=True)
class SubRule:
    """An AND of clauses: one branch of a pattern after expanding ``$or``."""

    clauses: tuple[Clause, ...]


@dataclass(frozen=True)
class CompiledPattern:
    """A validated pattern: an OR of sub-rules, plus the source text for display."""

    sub_rules: tuple[SubRule, ...]
    source: str = field(default="", compare=False)

    @property
    def paths(self) -> frozenset[str]:
        """Every field path the pattern looks at."""
        return frozenset(c.path for s in self.sub_rules for c in s.clauses)
