"""RuleIndex: every rule of a bus compiled into one structure, matched in one pass.

After AWS event-ruler's design:

* a trie of the field paths some rule uses steers a walk of the event, so fields no rule
  mentions are never looked at and the event is never flattened as a whole;
* each used path has a :class:`FieldIndex` that turns a leaf value into the clauses it
  satisfies (hash lookups, affix maps, interval trees);
* each sub-rule (one ``$or`` branch of one rule) counts its satisfied clauses; a sub-rule
  with all clauses satisfied matches, after the array-consistency check when any value came
  from inside an array (the values used must come from the same element of each array);
* ``add`` and ``remove`` touch only the paths of that one rule.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from processor.patterns.events import load_event
from processor.patterns.fieldindex import FieldIndex
from processor.patterns.model import Clause, CompiledPattern, MatchKind, SubRule
from processor.patterns.reference import Membership, consistent

_NO_MEMBERSHIP: Membership = ()


class _Node:
    """One step of the path trie; ``field`` holds the matchers of the path ending here."""

    __slots__ = ("children", "field", "refs", "watchers")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.field: FieldIndex | None = None
        self.refs = 0  # clauses (of any kind) whose path goes through this node
        self.watchers = 0  # clauses that need to know whether the path is present


class _Sub:
    """Book-keeping of one sub-rule inside the index.

    Clauses are numbered: first the ``n_required`` ones that need a matching value, then
    the ones that also hold when their path is absent, then the absent-only ones.
    """

    __slots__ = ("absent_nodes", "n_required", "optional_nodes", "rule")

    def __init__(
        self,
        rule: str,
        n_required: int,
        optional_nodes: tuple[_Node, ...],
        absent_nodes: tuple[_Node, ...],
    ) -> None:
        self.rule = rule
        self.n_required = n_required
        self.optional_nodes = optional_nodes
        self.absent_nodes = absent_nodes


class _Ref:
    """A clause of a sub-rule, as registered in field indexes (hashed by identity)."""

    __slots__ = ("idx", "sub")

    def __init__(self, sub: _Sub, idx: int) -> None:
        self.sub = sub
        self.idx = idx


Hits = dict[_Sub, dict[int, list[Membership]]]


class _Registration:
    """What ``add`` did for one rule, so that ``remove`` can undo exactly that."""

    __slots__ = ("entries", "subs")

    def __init__(self) -> None:
        self.entries: list[tuple[tuple[str, ...], Clause, _Ref | None, bool]] = []
        self.subs: list[_Sub] = []


class CompiledIndex:
    """The engine behind :class:`processor.patterns.RuleIndex` (names -> compiled rules)."""

    def __init__(self) -> None:
        self._root = _Node()
        self._rules: dict[str, _Registration] = {}
        self._absence_subs: list[_Sub] = []  # sub-rules that can match with no value hit

    def __contains__(self, name: str) -> bool:
        return name in self._rules

    def __len__(self) -> int:
        return len(self._rules)

    def names(self) -> list[str]:
        """Names of the rules in the index, in insertion order."""
        return list(self._rules)

    def add(self, name: str, pattern: CompiledPattern) -> None:
        """Add (or replace) one rule; touches only the paths the rule uses."""
        if name in self._rules:
            self.remove(name)
        reg = _Registration()
        for sub_rule in pattern.sub_rules:
            self._add_sub(name, sub_rule, reg)
        self._rules[name] = reg

    def _add_sub(self, name: str, sub_rule: SubRule, reg: _Registration) -> None:
        required = [c for c in sub_rule.clauses if not c.absent_ok]
        optional = [c for c in sub_rule.clauses if c.absent_ok and c.positive]
        absent = [c for c in sub_rule.clauses if not c.positive]
        sub = _Sub(
            name,
            len(required),
            tuple(self._node(_split(c.path), watch=True) for c in optional),
            tuple(self._node(_split(c.path), watch=True) for c in absent),
        )
        for idx, clause in enumerate(required + optional):
            parts = _split(clause.path)
            ref = _Ref(sub, idx)
            node = self._node(parts, watch=False)
            if node.field is None:
                node.field = FieldIndex()
            for m in clause.positive:
                node.field.add(m, ref)
            reg.entries.append((parts, clause, ref, False))
        for clause in optional + absent:
            reg.entries.append((_split(clause.path), clause, None, True))
        if sub.n_required == 0:
            self._absence_subs.append(sub)
        reg.subs.append(sub)

    def _node(self, parts: tuple[str, ...], watch: bool) -> _Node:
        node = self._root
        node.refs += 1
        for part in parts:
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = _Node()
            child.refs += 1
            node = child
        if watch:
            node.watchers += 1
        return node

    def remove(self, name: str) -> None:
        """Remove one rule; ``KeyError`` if there is none of that name."""
        reg = self._rules.pop(name)
        for parts, clause, ref, watch in reg.entries:
            path_nodes = [self._root]
            for part in parts:
                path_nodes.append(path_nodes[-1].children[part])
            leaf = path_nodes[-1]
            if ref is not None:
                assert leaf.field is not None
                for m in clause.positive:
                    leaf.field.remove(m, ref)
                if leaf.field.size == 0:
                    leaf.field = None
            if watch:
                leaf.watchers -= 1
            for parent, part in zip(path_nodes, parts, strict=False):
                child = parent.children[part]
                child.refs -= 1
                if child.refs == 0:
                    del parent.children[part]
                    break
            self._root.refs -= 1
        dead = set(reg.subs)
        self._absence_subs = [s for s in self._absence_subs if s not in dead]

    def matches(self, event: str | bytes | Mapping[str, Any]) -> set[str]:
        """Names of the rules that ``event`` matches."""
        document = load_event(event)
        hits: Hits = {}
        present: set[_Node] = set()
        arrays = itertools.count(1)
        if self._root.children:
            _walk_object(document, self._root, _NO_MEMBERSHIP, hits, present, arrays)
        result: set[str] = set()
        for sub, clauses in hits.items():
            if sub.rule not in result and _satisfied(sub, clauses, present):
                result.add(sub.rule)
        for sub in self._absence_subs:
            if sub.rule not in result and _satisfied(sub, hits.get(sub, {}), present):
                result.add(sub.rule)
        return result


def _split(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _walk_object(
    obj: Mapping[str, Any],
    node: _Node,
    mem: Membership,
    hits: Hits,
    present: set[_Node],
    arrays: Iterator[int],
) -> None:
    children = node.children
    for key, value in obj.items():
        child = children.get(key)
        if child is None:
            if "." not in key:
                continue
            child = node
            for part in key.split("."):
                child = child.children.get(part)
                if child is None:
                    break
            if child is None:
                continue
        _visit(value, child, mem, hits, present, arrays)


def _visit(
    value: Any,
    node: _Node,
    mem: Membership,
    hits: Hits,
    present: set[_Node],
    arrays: Iterator[int],
) -> None:
    if isinstance(value, Mapping):
        if node.children:
            _walk_object(value, node, mem, hits, present, arrays)
        return
    if isinstance(value, list):
        aid = next(arrays)
        for i, element in enumerate(value):
            _visit(element, node, (*mem, (aid, i)), hits, present, arrays)
        return
    if node.watchers:
        present.add(node)
    field = node.field
    if field is None:
        return
    for ref in field.collect(value):
        sub = ref.sub  # type: ignore[attr-defined]
        clauses = hits.get(sub)
        if clauses is None:
            hits[sub] = {ref.idx: [mem]}  # type: ignore[attr-defined]
        else:
            mems = clauses.get(ref.idx)  # type: ignore[attr-defined]
            if mems is None:
                clauses[ref.idx] = [mem]  # type: ignore[attr-defined]
            else:
                mems.append(mem)


def _satisfied(sub: _Sub, clauses: dict[int, list[Membership]], present: set[_Node]) -> bool:
    n_required = sub.n_required
    if n_required:
        count = 0
        for idx in clauses:
            if idx < n_required:
                count += 1
        if count < n_required:
            return False
    for offset, node in enumerate(sub.optional_nodes):
        if n_required + offset not in clauses and node in present:
            return False
    for node in sub.absent_nodes:
        if node in present:
            return False
    options = list(clauses.values())
    if all(not m for mems in options for m in mems):
        return True
    return _choose(options, 0, [])


def _choose(options: list[list[Membership]], i: int, chosen: list[Membership]) -> bool:
    if i == len(options):
        return True
    for mem in dict.fromkeys(options[i]):
        if all(consistent(mem, c) for c in chosen):
            chosen.append(mem)
            if _choose(options, i + 1, chosen):
                return True
            chosen.pop()
    return False


__all__ = ["CompiledIndex", "MatchKind"]
