"""The naive reference matcher: obviously correct, slow, used to check the index.

It flattens the whole event, then for each sub-rule searches for one value per clause such
that all chosen values come from the same element of every array they share (event-ruler's
array consistency, with ``exists: false`` judged against the clauses before it). No
cleverness here: it is the specification the index is tested against.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from processor.patterns.consistency import Membership, java_order
from processor.patterns.model import Clause, CompiledPattern, Matcher, MatchKind, SubRule
from processor.patterns.values import Leaf, as_double, exact_key, fold, ip_int

Flat = dict[str, list[tuple[Leaf, Membership]]]


def flatten(event: Mapping[str, Any]) -> Flat:
    """Every leaf of ``event`` under its dot-joined path, with its array membership."""
    out: Flat = {}
    ids = itertools.count()
    _walk(event, "", (), out, ids)
    return out


def _walk(value: Any, path: str, mem: Membership, out: Flat, ids: Iterator[int]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _walk(v, f"{path}.{k}" if path else k, mem, out, ids)
    elif isinstance(value, list):
        # Like event-ruler, only objects and arrays inside an array are "elements" for
        # array consistency; a plain value in an array goes with every element.
        aid = next(ids)
        for i, v in enumerate(value):
            inner = (*mem, (aid, i)) if isinstance(v, Mapping | list) else mem
            _walk(v, path, inner, out, ids)
    else:
        out.setdefault(path, []).append((value, mem))


def matcher_accepts(m: Matcher, value: Leaf) -> bool:
    """Whether one present leaf ``value`` satisfies matcher ``m`` (not ABSENT)."""
    kind = m.kind
    s = value if type(value) is str else None
    if kind is MatchKind.EXACT:
        return exact_key(value) == m.value
    if kind is MatchKind.EXISTS:
        return True
    if kind is MatchKind.ABSENT:
        return False
    if kind is MatchKind.NUMERIC:
        x = as_double(value)
        return x is not None and m.value.contains(x)  # type: ignore[attr-defined]
    if kind is MatchKind.ANYTHING_BUT:
        return exact_key(value) not in m.value  # type: ignore[operator]
    if kind is MatchKind.ANYTHING_BUT_IC:
        return s is None or fold(s) not in m.value  # type: ignore[operator]
    if kind is MatchKind.ANYTHING_BUT_PREFIX:
        return s is None or not any(s.startswith(p) for p in m.value)  # type: ignore[attr-defined]
    if kind is MatchKind.ANYTHING_BUT_SUFFIX:
        return s is None or not any(s.endswith(p) for p in m.value)  # type: ignore[attr-defined]
    if kind is MatchKind.ANYTHING_BUT_WILDCARD:
        return s is None or not any(w.regex.fullmatch(s) for w in m.value)  # type: ignore[attr-defined]
    if s is None:
        return False
    if kind is MatchKind.PREFIX:
        return s.startswith(m.value)  # type: ignore[arg-type]
    if kind is MatchKind.SUFFIX:
        return s.endswith(m.value)  # type: ignore[arg-type]
    if kind is MatchKind.PREFIX_IC:
        return fold(s).startswith(m.value)  # type: ignore[arg-type]
    if kind is MatchKind.SUFFIX_IC:
        return fold(s).endswith(m.value)  # type: ignore[arg-type]
    if kind is MatchKind.EQUALS_IC:
        return fold(s) == m.value
    if kind is MatchKind.WILDCARD:
        return m.value.regex.fullmatch(s) is not None  # type: ignore[attr-defined]
    if kind is MatchKind.CIDR:
        ip = ip_int(s)
        r = m.value
        return ip is not None and ip[0] == r.version and r.lo <= ip[1] <= r.hi  # type: ignore[attr-defined]
    raise AssertionError(f"unhandled match kind {kind}")


def consistent(a: Membership, b: Membership) -> bool:
    """Two values may be used together unless they sit in different elements of one array."""
    if not a or not b:
        return True
    da = dict(a)
    return all(da.get(aid, idx) == idx for aid, idx in b)


def sub_rule_matches(sub: SubRule, flat: Flat) -> bool:
    """Backtracking search for one consistent choice of value per clause.

    Clauses are taken in event-ruler's order (sorted paths, Java string order); a clause
    that allows ``exists: false`` also holds when no value of its path is consistent with
    the values chosen for the clauses before it.
    """
    clauses = sorted(sub.clauses, key=lambda c: java_order(c.path))
    return _choose(clauses, flat, 0, [])


def _choose(clauses: list[Clause], flat: Flat, i: int, chosen: list[Membership]) -> bool:
    if i == len(clauses):
        return True
    clause = clauses[i]
    values = flat.get(clause.path, [])
    positive = clause.positive
    for v, mem in values:
        accepted = any(matcher_accepts(m, v) for m in positive)
        if (
            accepted
            and all(consistent(mem, c) for c in chosen)
            and _choose(clauses, flat, i + 1, [*chosen, mem])
        ):
            return True
    if clause.absent_ok and not any(all(consistent(mem, c) for c in chosen) for _, mem in values):
        return _choose(clauses, flat, i + 1, chosen)
    return False


def reference_matches(pattern: CompiledPattern, event: Mapping[str, Any]) -> bool:
    """Whether ``event`` matches ``pattern``, the slow and simple way."""
    flat = flatten(event)
    return any(sub_rule_matches(sub, flat) for sub in pattern.sub_rules)
