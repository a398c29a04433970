"""Array consistency: one value per clause, all from the same element of every shared array.

event-ruler (and so EventBridge) only matches a sub-rule when the values it uses can be
taken together: two values inside different elements of one array cannot. ``exists:
false`` takes part too: event-ruler walks a sub-rule's fields in sorted order (Java string
order) and counts a field as absent when no occurrence of it is consistent with the values
chosen for the fields before it (``NameState.getNameTransitions`` in event-ruler), so
``{"d": {"a": [{"exists": true}], "b": [{"exists": false}]}}`` matches
``{"d": [{"a": 1}, {"b": 2}]}``.

Why a module of its own: a naive search compares every candidate with every other one,
which made one event with an array of 4,000 objects cost seconds. Here the candidates of a
clause sit in a trie keyed by ``(array, element)``, so finding the ones consistent with the
choice so far follows only the chosen element of each array; independent clauses (touching
different top-level arrays) are searched separately; and every event has a hard budget of
search steps, beyond which matching stops with :class:`MatchBudgetExceeded` (the router
dead-letters the event) instead of holding the partition.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final

from processor.errors import InvalidEventError

Membership = tuple[tuple[int, int], ...]
"""``(array id, element index)`` for every array element (object or array) a value sits
in, outermost first."""

MAX_MATCH_STEPS: Final = 1_000_000
"""Search steps one event may cost across all rules of a bus (a step is one trie node or
one candidate tried). Linear matching of a 4,000-element array uses a few thousand per
sub-rule; only adversarial combinations of large arrays and many clauses come near it."""


class MatchBudgetExceeded(InvalidEventError):
    """The event needs more array-consistency search than one event may cost."""

    code = "event-too-complex"


class Budget:
    """Steps left for one event; shared by every sub-rule checked for it."""

    __slots__ = ("left",)

    def __init__(self, steps: int = MAX_MATCH_STEPS) -> None:
        self.left = steps

    def spend(self, steps: int = 1) -> None:
        """Charge ``steps``; raise :class:`MatchBudgetExceeded` once the budget is gone."""
        self.left -= steps
        if self.left < 0:
            raise MatchBudgetExceeded(
                f"event is too complex to match: array-consistency search exceeded "
                f"{MAX_MATCH_STEPS} steps (large arrays used by many pattern fields)"
            )


def java_order(path: str) -> bytes:
    """Sort key giving Java's ``String.compareTo`` order (UTF-16 code units)."""
    return path.encode("utf-16-be", "surrogatepass")


class _Trie:
    """Memberships keyed by their ``(array, element)`` steps, for consistent-lookups."""

    __slots__ = ("children", "ends")

    def __init__(self) -> None:
        self.children: dict[int, dict[int, _Trie]] = {}
        self.ends: Membership | None = None

    def insert(self, mem: Membership) -> None:
        node = self
        for aid, idx in mem:
            by_index = node.children.get(aid)
            if by_index is None:
                by_index = node.children[aid] = {}
            child = by_index.get(idx)
            if child is None:
                child = by_index[idx] = _Trie()
            node = child
        node.ends = mem

    def consistent(self, chosen: dict[int, int], budget: Budget) -> Iterator[Membership]:
        """Memberships that agree with ``chosen`` on every array they share with it."""
        stack = [self]
        while stack:
            node = stack.pop()
            budget.spend()
            if node.ends is not None:
                yield node.ends
            stack.extend(node._next(chosen))

    def _next(self, chosen: dict[int, int]) -> list[_Trie]:
        out: list[_Trie] = []
        for aid, by_index in self.children.items():
            idx = chosen.get(aid)
            if idx is None:
                out.extend(by_index.values())
            else:
                child = by_index.get(idx)
                if child is not None:
                    out.append(child)
        return out


class ValueGroups:
    """One path's values in one event, grouped by the top-level array element they sit in.

    Built once per path per event and shared by every sub-rule checked against it: a
    clause then looks only at the values that can go with its trigger's elements instead
    of at every value of a large array. The grouping is coarse on purpose (outermost
    element only, one pass to build): it may keep a value that a deeper array rules out,
    never drop one that fits, and the search decides exactly.
    """

    __slots__ = ("_outside", "_tops")

    def __init__(self, found: Sequence[tuple[object, Membership]], budget: Budget) -> None:
        budget.spend(len(found))
        self._outside: list[tuple[object, Membership]] = []  # in no array element
        self._tops: dict[int, dict[int, list[tuple[object, Membership]]]] = {}
        for item in found:
            mem = item[1]
            if not mem:
                self._outside.append(item)
                continue
            aid, idx = mem[0]
            by_index = self._tops.get(aid)
            if by_index is None:
                by_index = self._tops[aid] = {}
            group = by_index.get(idx)
            if group is None:
                by_index[idx] = [item]
            else:
                group.append(item)

    def near(
        self, anchors: Sequence[Membership], budget: Budget
    ) -> list[tuple[object, Membership]]:
        """Values that may go with at least one of ``anchors`` (non-empty memberships)."""
        wanted: dict[int, set[int]] = {}
        for anchor in anchors:
            aid, idx = anchor[0]
            wanted.setdefault(aid, set()).add(idx)
        out = list(self._outside)
        for aid, by_index in self._tops.items():
            indexes = wanted.get(aid)
            if indexes is None:  # an array no anchor sits in: any element goes with them
                for group in by_index.values():
                    out.extend(group)
            else:
                for idx in indexes:
                    out.extend(by_index.get(idx, ()))
        budget.spend(len(anchors) + len(out))
        return out


class Slot:
    """One clause of a sub-rule, seen through the values of one event.

    ``candidates``: memberships of the values satisfying the clause's operators;
    ``occurrences``: memberships of every value at the clause's path, ``None`` unless the
    clause also holds by absence (``exists: false``).
    """

    __slots__ = ("_cand_trie", "_occ_trie", "candidates", "occurrences", "order")

    def __init__(
        self,
        order: bytes,
        candidates: Sequence[Membership],
        occurrences: Sequence[Membership] | None,
    ) -> None:
        self.order = order
        self.candidates = list(dict.fromkeys(candidates))
        self.occurrences = None if occurrences is None else list(dict.fromkeys(occurrences))
        self._cand_trie: _Trie | None = None
        self._occ_trie: _Trie | None = None

    @property
    def absent_ok(self) -> bool:
        return self.occurrences is not None

    def choices(self, chosen: dict[int, int], budget: Budget) -> Iterator[Membership]:
        """Candidates consistent with the choice so far."""
        if not chosen:
            budget.spend(len(self.candidates))
            return iter(self.candidates)
        if self._cand_trie is None:
            self._cand_trie = _build(self.candidates, budget)
        return self._cand_trie.consistent(chosen, budget)

    def absent(self, chosen: dict[int, int], budget: Budget) -> bool:
        """Whether no occurrence of the field is consistent with the choice so far."""
        assert self.occurrences is not None
        if not self.occurrences:
            return True
        if not chosen:
            return False
        if self._occ_trie is None:
            self._occ_trie = _build(self.occurrences, budget)
        return next(self._occ_trie.consistent(chosen, budget), None) is None


def _build(mems: list[Membership], budget: Budget) -> _Trie:
    budget.spend(len(mems))
    trie = _Trie()
    for mem in mems:
        trie.insert(mem)
    return trie


def satisfiable(slots: list[Slot], budget: Budget) -> bool:
    """Whether one consistent choice exists for all ``slots`` (event-ruler's semantics)."""
    if any(not s.candidates and not s.absent_ok for s in slots):
        return False
    if all(not m for s in slots for m in s.candidates) and not any(s.absent_ok for s in slots):
        return True  # nothing inside an array of objects: any choice goes together
    if any(s.absent_ok for s in slots):
        # Absence is judged against the fields before it: one search in event-ruler's order.
        return _search(sorted(slots, key=lambda s: s.order), budget)
    return all(_search(group, budget) for group in _independent(slots))


def _independent(slots: list[Slot]) -> list[list[Slot]]:
    """Groups of slots that share no top-level array, fewest candidates first in each.

    A nested array lies inside one element of its enclosing array, so two memberships
    share an array only if they share their outermost one.
    """
    parent: dict[int, int] = {}

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    tops: list[set[int]] = []
    for slot in slots:
        own = {m[0][0] for m in slot.candidates if m}
        tops.append(own)
        first = None
        for a in own:
            parent.setdefault(a, a)
            if first is None:
                first = root(a)
            else:
                parent[root(a)] = first
    groups: dict[int, list[Slot]] = {}
    for slot, own in zip(slots, tops, strict=True):
        if not own or any(not m for m in slot.candidates):
            continue  # a value outside every array goes with any choice
        groups.setdefault(root(next(iter(own))), []).append(slot)
    return [sorted(g, key=lambda s: len(s.candidates)) for g in groups.values()]


def _search(slots: list[Slot], budget: Budget) -> bool:
    chosen: dict[int, int] = {}

    def go(i: int) -> bool:
        if i == len(slots):
            return True
        slot = slots[i]
        for mem in slot.choices(chosen, budget):
            new = _extend(chosen, mem)
            found = go(i + 1)
            for aid in new:
                del chosen[aid]
            if found:
                return True
        return slot.absent_ok and slot.absent(chosen, budget) and go(i + 1)

    return go(0)


def _extend(chosen: dict[int, int], mem: Membership) -> list[int]:
    """Add ``mem``'s steps to the choice (it is consistent with it); return the new arrays."""
    new = []
    for aid, idx in mem:
        if aid not in chosen:
            chosen[aid] = idx
            new.append(aid)
    return new
