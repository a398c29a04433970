"""Per field path: every operator of every clause on that path, indexed by value.

``collect(value)`` yields the clause references that one leaf value satisfies. Exact values
(and ``numeric =``) are one hash probe; prefixes, suffixes and wildcard literal prefixes use
:class:`AffixMap`; numeric ranges and CIDR blocks use :class:`IntervalIndex`. Only the
anything-but family is inherently linear: a value satisfies every such clause except the
few that exclude it, and each satisfied clause has to be counted anyway.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from processor.patterns.model import CidrRange, Matcher, MatchKind, NumericRange, Wildcard
from processor.patterns.structures import AffixMap, IntervalIndex
from processor.patterns.values import Leaf, as_double, exact_key, fold, ip_int

Ref = Hashable


class FieldIndex:
    """All matchers on one field path, keyed for fast lookup by event value."""

    __slots__ = (
        "_ab_excluded",
        "_ab_other",
        "_ab_values",
        "_cidr",
        "_equals_ic",
        "_exact",
        "_exists",
        "_numeric",
        "_prefix",
        "_prefix_ic",
        "_suffix",
        "_suffix_ic",
        "_wildcard",
        "size",
        "string_ops",
    )

    def __init__(self) -> None:
        self._exact: dict[Any, list[Ref]] = {}
        self._exists: list[Ref] = []
        self._prefix: AffixMap[Ref] = AffixMap()
        self._suffix: AffixMap[Ref] = AffixMap()
        self._prefix_ic: AffixMap[Ref] = AffixMap()
        self._suffix_ic: AffixMap[Ref] = AffixMap()
        self._equals_ic: dict[str, list[Ref]] = {}
        self._wildcard: AffixMap[tuple[Wildcard, Ref]] = AffixMap()
        self._numeric: IntervalIndex[Ref] = IntervalIndex()
        self._cidr: dict[int, IntervalIndex[Ref]] = {4: IntervalIndex(), 6: IntervalIndex()}
        self._ab_values: list[tuple[Matcher, Ref]] = []
        self._ab_excluded: dict[Any, set[tuple[Matcher, Ref]]] = {}
        self._ab_other: list[tuple[Matcher, Ref]] = []
        self.size = 0
        self.string_ops = 0  # registered operators that only strings can satisfy

    def add(self, m: Matcher, ref: Ref) -> None:
        """Register ``ref`` as satisfied by values that ``m`` accepts."""
        self._apply(m, ref, adding=True)
        self.size += 1
        self.string_ops += m.kind in _STRING_KINDS

    def remove(self, m: Matcher, ref: Ref) -> None:
        """Undo one :meth:`add` of the same matcher and reference."""
        self._apply(m, ref, adding=False)
        self.size -= 1
        self.string_ops -= m.kind in _STRING_KINDS

    def _apply(self, m: Matcher, ref: Ref, adding: bool) -> None:
        kind, v = m.kind, m.value
        if kind is MatchKind.EXACT:
            _edit_list(self._exact, v, ref, adding)
        elif kind is MatchKind.EXISTS:
            _edit(self._exists, ref, adding)
        elif kind is MatchKind.EQUALS_IC:
            _edit_list(self._equals_ic, v, ref, adding)
        elif kind in _AFFIX_KINDS:
            table: AffixMap[Ref] = getattr(self, _AFFIX_KINDS[kind])
            (table.add if adding else table.remove)(v, ref)  # type: ignore[arg-type]
        elif kind is MatchKind.WILDCARD:
            assert isinstance(v, Wildcard)
            (self._wildcard.add if adding else self._wildcard.remove)(v.chunks[0], (v, ref))
        elif kind is MatchKind.NUMERIC:
            assert isinstance(v, NumericRange)
            op = self._numeric.add if adding else self._numeric.remove
            op(v.lo, v.lo_inclusive, v.hi, v.hi_inclusive, ref)
        elif kind is MatchKind.CIDR:
            assert isinstance(v, CidrRange)
            tree = self._cidr[v.version]
            (tree.add if adding else tree.remove)(v.lo, True, v.hi, True, ref)
        elif kind is MatchKind.ANYTHING_BUT:
            # Registered per (matcher, ref): two anything-but operators in one clause are
            # ORed like every other pair, so a value one of them excludes still counts
            # when the other accepts it.
            entry = (m, ref)
            _edit(self._ab_values, entry, adding)
            for key in v:  # type: ignore[attr-defined]
                excluded = self._ab_excluded.setdefault(key, set())
                if adding:
                    excluded.add(entry)
                else:
                    excluded.discard(entry)
                    if not excluded:
                        del self._ab_excluded[key]
        elif kind in _AB_OTHER:
            _edit(self._ab_other, (m, ref), adding)
        else:  # pragma: no cover - ABSENT never reaches a field index
            raise AssertionError(f"{kind} is not indexed")

    def collect(self, value: Leaf, out: list[Ref]) -> None:
        """Append every reference satisfied by one leaf ``value`` to ``out`` (may repeat)."""
        if self._exists:
            out.extend(self._exists)
        key = exact_key(value)
        hit = self._exact.get(key)
        if hit:
            out.extend(hit)
        if self._ab_values:
            excluded = self._ab_excluded.get(key)
            if excluded:
                out.extend([entry[1] for entry in self._ab_values if entry not in excluded])
            else:
                out.extend([entry[1] for entry in self._ab_values])
        if type(value) is str:
            if self.string_ops:
                self._collect_string(value, out)
        else:
            if self._numeric.intervals:
                x = as_double(value)
                if x is not None:
                    out.extend(self._numeric.containing(x))
            if self._ab_other:
                # every anything-but operator on strings accepts any non-string value
                out.extend([ref for _, ref in self._ab_other])

    def _collect_string(self, s: str, out: list[Ref]) -> None:
        if self._prefix.lengths:
            out.extend(self._prefix.starting(s))
        if self._suffix.lengths:
            out.extend(self._suffix.ending(s))
        if self._prefix_ic.lengths or self._suffix_ic.lengths or self._equals_ic:
            folded = fold(s)
            if self._prefix_ic.lengths:
                out.extend(self._prefix_ic.starting(folded))
            if self._suffix_ic.lengths:
                out.extend(self._suffix_ic.ending(folded))
            hit = self._equals_ic.get(folded)
            if hit:
                out.extend(hit)
        if self._wildcard.lengths:
            out.extend([ref for w, ref in self._wildcard.starting(s) if w.regex.fullmatch(s)])
        cidr = self._cidr
        if cidr[4].intervals or cidr[6].intervals:
            ip = ip_int(s)
            if ip is not None:
                out.extend(cidr[ip[0]].containing(ip[1]))
        if self._ab_other:
            out.extend([ref for m, ref in self._ab_other if _ab_string_accepts(m, s)])


def _ab_string_accepts(m: Matcher, s: str) -> bool:
    kind, v = m.kind, m.value
    if kind is MatchKind.ANYTHING_BUT_IC:
        return fold(s) not in v  # type: ignore[operator]
    if kind is MatchKind.ANYTHING_BUT_PREFIX:
        return not any(s.startswith(p) for p in v)  # type: ignore[attr-defined]
    if kind is MatchKind.ANYTHING_BUT_SUFFIX:
        return not any(s.endswith(p) for p in v)  # type: ignore[attr-defined]
    return not any(w.regex.fullmatch(s) for w in v)  # type: ignore[attr-defined]


_STRING_KINDS = frozenset(
    {
        MatchKind.PREFIX,
        MatchKind.SUFFIX,
        MatchKind.PREFIX_IC,
        MatchKind.SUFFIX_IC,
        MatchKind.EQUALS_IC,
        MatchKind.WILDCARD,
        MatchKind.CIDR,
        MatchKind.ANYTHING_BUT_IC,
        MatchKind.ANYTHING_BUT_PREFIX,
        MatchKind.ANYTHING_BUT_SUFFIX,
        MatchKind.ANYTHING_BUT_WILDCARD,
    }
)
_AFFIX_KINDS = {
    MatchKind.PREFIX: "_prefix",
    MatchKind.SUFFIX: "_suffix",
    MatchKind.PREFIX_IC: "_prefix_ic",
    MatchKind.SUFFIX_IC: "_suffix_ic",
}
_AB_OTHER = frozenset(
    {
        MatchKind.ANYTHING_BUT_IC,
        MatchKind.ANYTHING_BUT_PREFIX,
        MatchKind.ANYTHING_BUT_SUFFIX,
        MatchKind.ANYTHING_BUT_WILDCARD,
    }
)


def _edit(items: list[Any], item: Any, adding: bool) -> None:
    if adding:
        items.append(item)
    else:
        items.remove(item)


def _edit_list(table: dict[Any, list[Ref]], key: Any, ref: Ref, adding: bool) -> None:
    if adding:
        table.setdefault(key, []).append(ref)
    else:
        items = table[key]
        items.remove(ref)
        if not items:
            del table[key]
