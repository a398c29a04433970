"""RuleIndex: every rule of a bus compiled into one structure, matched in one pass.

After AWS event-ruler's design, adapted to Python:

* a trie of the field paths some rule uses steers one walk of the event, so fields that no
  rule mentions are never looked at and the event is never flattened as a whole;
* each sub-rule (one ``$or`` branch of one rule) registers one *trigger* clause, its most
  selective one (exact values first, anything-but last, rarest operand first), in the
  :class:`FieldIndex` of that clause's path, where a leaf value finds the clauses it
  satisfies by hash lookups, affix maps and interval trees;
* a triggered sub-rule checks its remaining clauses against the values the walk collected,
  and the array-consistency rule (values used together must come from the same element of
  every array they share) when any value sits inside an array.

So the work per event follows the fields it has and the sub-rules it nearly matches, not
the number of rules: ten thousand rules on ``source`` and ``detail-type`` cost one hash
probe per field plus one check per rule whose trigger fired. ``add`` and ``remove`` touch
only the paths of that one rule.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from processor.patterns.consistency import (
    Budget,
    Membership,
    Slot,
    ValueGroups,
    java_order,
    satisfiable,
)
from processor.patterns.events import load_event
from processor.patterns.fieldindex import FieldIndex
from processor.patterns.model import Clause, CompiledPattern, Matcher, MatchKind, SubRule
from processor.patterns.reference import matcher_accepts
from processor.patterns.values import Leaf, exact_key

_NO_MEMBERSHIP: Membership = ()
_LEAF_TYPES = frozenset({str, int, float, bool, type(None)})

Values = dict["_Node", list[tuple[Leaf, Membership]]]

_RANK = {
    MatchKind.EXACT: 0,
    MatchKind.EQUALS_IC: 0,
    MatchKind.CIDR: 1,
    MatchKind.PREFIX: 2,
    MatchKind.PREFIX_IC: 2,
    MatchKind.SUFFIX: 2,
    MatchKind.SUFFIX_IC: 2,
    MatchKind.NUMERIC: 3,
    MatchKind.WILDCARD: 4,
    MatchKind.EXISTS: 5,
    MatchKind.ANYTHING_BUT: 6,
    MatchKind.ANYTHING_BUT_IC: 6,
    MatchKind.ANYTHING_BUT_PREFIX: 6,
    MatchKind.ANYTHING_BUT_SUFFIX: 6,
    MatchKind.ANYTHING_BUT_WILDCARD: 6,
}
"""How few values a matcher typically accepts: lower is more selective."""


class _Node:
    """One step of the path trie; ``field`` holds the triggers of the path ending here."""

    __slots__ = ("children", "field", "leaf_uses", "refs")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.field: FieldIndex | None = None
        self.refs = 0  # clauses whose path goes through (or ends at) this node
        self.leaf_uses = 0  # clauses whose path ends here: the walk collects its values


class _Check:
    """A non-trigger clause of a sub-rule, checked against the collected values."""

    __slots__ = ("absent_ok", "exact", "matchers", "node", "order", "path")

    def __init__(
        self, path: str, node: _Node, matchers: tuple[Matcher, ...], absent_ok: bool
    ) -> None:
        self.path = path
        self.order = java_order(path)
        self.node = node
        self.matchers = matchers  # empty: the clause is exists:false alone
        self.absent_ok = absent_ok
        # Exact values only (the common case): found by hash lookups, not by a scan.
        exact = all(m.kind is MatchKind.EXACT for m in matchers)
        self.exact = tuple(m.value for m in matchers) if exact and matchers else None


class _Sub:
    """One sub-rule in the index: its trigger (if any) and the clauses left to check."""

    __slots__ = ("checks", "required", "rule", "trigger", "trigger_order")

    def __init__(
        self,
        rule: str,
        trigger: tuple[_Node, Clause] | None,
        checks: list[_Check],
        required: list[Clause],
    ) -> None:
        self.rule = rule
        self.trigger = trigger
        self.trigger_order = b""
        self.checks = checks
        self.required = required


class CompiledIndex:
    """The engine behind :class:`processor.patterns.RuleIndex` (names -> compiled rules)."""

    def __init__(self) -> None:
        self._root = _Node()
        self._rules: dict[str, list[_Sub]] = {}
        self._untriggered: list[_Sub] = []  # sub-rules that can match with no value present
        self._popularity: dict[tuple[str, Matcher], int] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._rules

    def __len__(self) -> int:
        return len(self._rules)

    def names(self) -> list[str]:
        """Names of the rules in the index, in insertion order."""
        return list(self._rules)

    # ------------------------------------------------------------------ changes

    def add(self, name: str, pattern: CompiledPattern) -> None:
        """Add (or replace) one rule; touches only the paths the rule uses."""
        if name in self._rules:
            self.remove(name)
        self._rules[name] = [self._add_sub(name, s) for s in pattern.sub_rules]

    def _selectivity(self, clause: Clause) -> tuple[int, int, int]:
        rank = max(_RANK[m.kind] for m in clause.matchers)
        popularity = sum(self._popularity.get((clause.path, m), 0) for m in clause.matchers)
        return rank, popularity, -clause.path.count(".")

    def _add_sub(self, name: str, sub_rule: SubRule) -> _Sub:
        required = [c for c in sub_rule.clauses if not c.absent_ok]
        trigger_clause = min(required, key=self._selectivity) if required else None
        self._count(required, +1)
        checks = []
        for clause in sub_rule.clauses:
            node = self._node(clause.path)
            if clause is not trigger_clause:
                checks.append(_Check(clause.path, node, clause.positive, clause.absent_ok))
        sub = _Sub(name, None, checks, required)
        if trigger_clause is None:
            self._untriggered.append(sub)
            return sub
        node = self._find(trigger_clause.path)
        sub.trigger = (node, trigger_clause)
        sub.trigger_order = java_order(trigger_clause.path)
        if node.field is None:
            node.field = FieldIndex()
        for m in trigger_clause.matchers:
            node.field.add(m, sub)
        return sub

    def _count(self, clauses: list[Clause], delta: int) -> None:
        """Track how many sub-rules use each operand, to pick rare ones as triggers."""
        for clause in clauses:
            for m in clause.matchers:
                key = (clause.path, m)
                count = self._popularity.get(key, 0) + delta
                if count:
                    self._popularity[key] = count
                else:
                    del self._popularity[key]

    def _node(self, path: str) -> _Node:
        node = self._root
        node.refs += 1
        for part in path.split("."):
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = _Node()
            child.refs += 1
            node = child
        node.leaf_uses += 1
        return node

    def _find(self, path: str) -> _Node:
        node = self._root
        for part in path.split("."):
            node = node.children[part]
        return node

    def remove(self, name: str) -> None:
        """Remove one rule; ``KeyError`` if there is none of that name."""
        subs = self._rules.pop(name)
        dead = set()
        for sub in subs:
            self._count(sub.required, -1)
            if sub.trigger is None:
                dead.add(sub)
            else:
                node, clause = sub.trigger
                assert node.field is not None
                for m in clause.matchers:
                    node.field.remove(m, sub)
                if node.field.size == 0:
                    node.field = None
                self._release(clause.path)
            for check in sub.checks:
                self._release(check.path)
        if dead:
            self._untriggered = [s for s in self._untriggered if s not in dead]

    def _release(self, path: str) -> None:
        parts = path.split(".")
        nodes = [self._root]
        for part in parts:
            nodes.append(nodes[-1].children[part])
        nodes[-1].leaf_uses -= 1
        self._root.refs -= 1
        for parent, part in zip(nodes, parts, strict=False):
            child = parent.children[part]
            child.refs -= 1
            if child.refs == 0:
                del parent.children[part]
                break

    # ------------------------------------------------------------------ matching

    def matches(self, event: str | bytes | Mapping[str, Any]) -> set[str]:
        """Names of the rules that ``event`` matches.

        Raises :class:`~processor.patterns.consistency.MatchBudgetExceeded` (an
        ``InvalidEventError``) for an event whose array-consistency search would cost more
        than ``MAX_MATCH_STEPS``.
        """
        document = load_event(event)
        budget = Budget()
        seen = _Seen(budget)
        values: Values = {}
        if self._root.children:
            try:
                _walk_object(document, self._root, _NO_MEMBERSHIP, values, itertools.count(1))
            except RecursionError:  # nested deeper than Python's stack (AWS allows 1000)
                values.clear()
                _walk_without_recursion(document, self._root, values, itertools.count(1))
        result: set[str] = set()
        fired: dict[_Sub, list[Membership]] = {}
        triggered: list[_Sub] = []
        for node, found in values.items():
            field = node.field
            if field is None:
                continue
            for value, mem in found:
                field.collect(value, triggered)  # type: ignore[arg-type]
                for sub in triggered:
                    if not sub.checks:
                        # The trigger is the whole sub-rule: nothing else to check.
                        result.add(sub.rule)
                        continue
                    mems = fired.get(sub)
                    if mems is None:
                        fired[sub] = [mem]
                    else:
                        mems.append(mem)
                triggered.clear()
        for sub, mems in fired.items():
            if sub.rule not in result and _verify(sub, mems, values, seen):
                result.add(sub.rule)
        for sub in self._untriggered:
            if sub.rule not in result and _verify(sub, None, values, seen):
                result.add(sub.rule)
        return result


def _walk_object(
    obj: Mapping[str, Any], node: _Node, mem: Membership, values: Values, arrays: Iterator[int]
) -> None:
    children = node.children
    for key, value in obj.items():
        child = children.get(key)
        if child is None:
            if "." not in key:
                continue
            child = _dotted_child(node, key)
            if child is None:
                continue
        _visit(value, child, mem, values, arrays)


def _dotted_child(node: _Node, key: str) -> _Node | None:
    """The node a dotted event key (``"a.b"``) reaches, as rules name nested fields."""
    found: _Node | None = node
    for part in key.split("."):
        found = found.children.get(part)  # type: ignore[union-attr]
        if found is None:
            return None
    return found


def _visit(value: Any, node: _Node, mem: Membership, values: Values, arrays: Iterator[int]) -> None:
    t = type(value)
    if t is dict or (t not in _LEAF_TYPES and t is not list and isinstance(value, Mapping)):
        if node.children:
            _walk_object(value, node, mem, values, arrays)
    elif t is list:
        aid = next(arrays)
        for i, element in enumerate(value):
            et = type(element)
            if et is dict or et is list or (et not in _LEAF_TYPES and isinstance(element, Mapping)):
                _visit(element, node, (*mem, (aid, i)), values, arrays)
            else:  # a plain value is not an element: it goes with every element
                _visit(element, node, mem, values, arrays)
    elif node.leaf_uses:
        found = values.get(node)
        if found is None:
            values[node] = [(value, mem)]
        else:
            found.append((value, mem))


def _walk_without_recursion(
    document: Mapping[str, Any], root: _Node, values: Values, arrays: Iterator[int]
) -> None:
    """What :func:`_walk_object` collects, in the same order, with an explicit stack.

    The recursive walk is the fast path; this one serves events nested deeper than the
    interpreter's recursion limit (issue 16 item 15: 999 levels must route).
    """
    stack: list[tuple[Any, _Node, Membership]] = []

    def push_members(obj: Mapping[str, Any], node: _Node, mem: Membership) -> None:
        pending = []
        children = node.children
        for key, value in obj.items():
            child = children.get(key)
            if child is None:
                if "." not in key:
                    continue
                child = _dotted_child(node, key)
                if child is None:
                    continue
            pending.append((value, child, mem))
        stack.extend(reversed(pending))

    push_members(document, root, _NO_MEMBERSHIP)
    while stack:
        value, node, mem = stack.pop()
        t = type(value)
        if t is dict or (t not in _LEAF_TYPES and t is not list and isinstance(value, Mapping)):
            if node.children:
                push_members(value, node, mem)
        elif t is list:
            aid = next(arrays)
            pending = []
            for i, element in enumerate(value):
                et = type(element)
                nested = et is dict or et is list
                if nested or (et not in _LEAF_TYPES and isinstance(element, Mapping)):
                    pending.append((element, node, (*mem, (aid, i))))
                else:  # a plain value is not an element: it goes with every element
                    pending.append((element, node, mem))
            stack.extend(reversed(pending))
        elif node.leaf_uses:
            found_values = values.get(node)
            if found_values is None:
                values[node] = [(value, mem)]
            else:
                found_values.append((value, mem))


class _Seen:
    """What one event's matching learns once and every sub-rule reuses."""

    __slots__ = ("budget", "by_key", "groups", "in_arrays")

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.in_arrays: dict[_Node, bool] = {}  # any value of the path inside an array element
        self.groups: dict[_Node, ValueGroups] = {}
        self.by_key: dict[_Node, dict[object, list[Membership]]] = {}

    def accepted(self, check: _Check, found: list[tuple[Leaf, Membership]]) -> list[Membership]:
        """Memberships of the values of ``found`` that satisfy ``check``'s operators."""
        if check.exact is not None and len(found) > 8:
            table = self.by_key.get(check.node)
            if table is None:
                self.budget.spend(len(found))
                table = self.by_key[check.node] = {}
                for value, mem in found:
                    table.setdefault(exact_key(value), []).append(mem)
            hits = [table.get(key) for key in check.exact]
            return [mem for hit in hits if hit for mem in hit]
        self.budget.spend(len(found))
        matchers = check.matchers
        return [mem for v, mem in found if any(matcher_accepts(m, v) for m in matchers)]

    def holds(self, check: _Check, found: list[tuple[Leaf, Membership]]) -> bool:
        """Whether some value of ``found`` satisfies ``check`` (stops at the first)."""
        if check.exact is not None and len(found) > 8:
            return bool(self.accepted(check, found))
        matchers = check.matchers
        for v, _ in found:
            self.budget.spend()
            if any(matcher_accepts(m, v) for m in matchers):
                return True
        return False

    def arrayed(self, node: _Node, found: list[tuple[Leaf, Membership]]) -> bool:
        known = self.in_arrays.get(node)
        if known is None:
            known = self.in_arrays[node] = any(mem for _, mem in found)
        return known

    def values_near(
        self, node: _Node, found: list[tuple[Leaf, Membership]], anchors: list[Membership]
    ) -> list[tuple[Leaf, Membership]]:
        """The values of ``node`` that can go with at least one of ``anchors``."""
        groups = self.groups.get(node)
        if groups is None:
            groups = self.groups[node] = ValueGroups(found, self.budget)
        return groups.near(anchors, self.budget)  # type: ignore[return-value]


def _verify(sub: _Sub, trigger: list[Membership] | None, values: Values, seen: _Seen) -> bool:
    """Whether a sub-rule holds, given how its trigger fired (``None``: no trigger).

    Without array elements in play every clause only needs one accepted value. Otherwise a
    required clause looks only at the values that can go with the trigger's elements (a
    few, when the trigger is selective) and the array-consistent search decides.
    """
    anchors = None if trigger is None else list(dict.fromkeys(trigger))
    if anchors is None or not any(anchors):
        flat = True
        for check in sub.checks:
            found = values.get(check.node)
            if found and seen.arrayed(check.node, found):
                flat = False
                break
        if flat:
            return _verify_flat(sub, values, seen)
    budget = seen.budget
    slots: list[Slot] = []
    for check in sub.checks:
        found = values.get(check.node)
        if not found:
            if check.absent_ok:
                continue
            return False
        if (
            anchors is not None
            and check.exact is None  # exact values are hash lookups over all values anyway
            and not check.absent_ok
            and all(anchors)
            and len(anchors) * 2 < len(found)
            and seen.arrayed(check.node, found)
        ):
            found = seen.values_near(check.node, found, anchors)
        accepted = seen.accepted(check, found) if check.matchers else []
        if check.absent_ok:
            # Present, yet maybe absent from the array elements the other fields use.
            slots.append(Slot(check.order, accepted, [mem for _, mem in found]))
        elif accepted:
            slots.append(Slot(check.order, accepted, None))
        else:
            return False
    if anchors is not None:
        slots.append(Slot(sub.trigger_order, anchors, None))
    return satisfiable(slots, budget)


def _verify_flat(sub: _Sub, values: Values, seen: _Seen) -> bool:
    """No value the sub-rule uses sits in an array element: every clause just needs one
    value it accepts (a present field defeats ``exists: false`` then)."""
    for check in sub.checks:
        found = values.get(check.node)
        if not found:
            if check.absent_ok:
                continue
            return False
        if not check.matchers or not seen.holds(check, found):
            return False
    return True
