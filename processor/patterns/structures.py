"""Lookup structures behind the index: affix maps and a stabbing interval tree.

Both answer "which registered items does this value hit?" in time that depends on the
value and on the answer, not on how many items are registered: an affix map probes one
hash table per distinct operand length; the interval tree walks one root-to-leaf path.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class AffixMap(Generic[T]):
    """Items keyed by a prefix (or suffix) string; finds every key the value starts with."""

    __slots__ = ("_by_len", "lengths")  # ``lengths`` is read directly on hot paths

    def __init__(self) -> None:
        self._by_len: dict[int, dict[str, list[T]]] = {}
        self.lengths: list[int] = []

    def __bool__(self) -> bool:
        return bool(self.lengths)

    def add(self, key: str, item: T) -> None:
        """Register ``item`` under ``key``."""
        table = self._by_len.get(len(key))
        if table is None:
            table = self._by_len[len(key)] = {}
            self.lengths = sorted(self._by_len)
        table.setdefault(key, []).append(item)

    def remove(self, key: str, item: T) -> None:
        """Forget one registration of ``item`` under ``key``."""
        table = self._by_len[len(key)]
        items = table[key]
        items.remove(item)
        if not items:
            del table[key]
            if not table:
                del self._by_len[len(key)]
                self.lengths = sorted(self._by_len)

    def starting(self, value: str) -> Iterator[T]:
        """Items whose key is a prefix of ``value``."""
        n = len(value)
        for length in self.lengths:
            if length > n:
                break
            items = self._by_len[length].get(value[:length])
            if items:
                yield from items

    def ending(self, value: str) -> Iterator[T]:
        """Items whose key is a suffix of ``value``."""
        n = len(value)
        for length in self.lengths:
            if length > n:
                break
            items = self._by_len[length].get(value[n - length :])
            if items:
                yield from items


class IntervalIndex(Generic[T]):
    """Items attached to intervals of numbers; finds all intervals containing a point.

    Endpoints split the line into elementary regions (each endpoint, and the open gaps
    between them); each interval is stored on the O(log n) segment-tree nodes covering its
    regions. The tree is rebuilt lazily on the first query after a change, so a burst of
    rule changes costs one rebuild of this one field's tree.
    """

    __slots__ = ("_dirty", "_edges", "_nodes", "_size", "intervals")

    def __init__(self) -> None:
        self.intervals: dict[T, list[tuple[float, bool, float, bool]]] = {}
        self._dirty = False
        self._edges: list[float] = []
        self._nodes: list[list[T] | None] = []
        self._size = 0

    def __bool__(self) -> bool:
        return bool(self.intervals)

    def add(self, lo: float, lo_inc: bool, hi: float, hi_inc: bool, item: T) -> None:
        """Attach ``item`` to the interval (infinite ends allowed)."""
        self.intervals.setdefault(item, []).append((lo, lo_inc, hi, hi_inc))
        self._dirty = True

    def remove(self, lo: float, lo_inc: bool, hi: float, hi_inc: bool, item: T) -> None:
        """Detach one registration of ``item`` from the interval."""
        spans = self.intervals[item]
        spans.remove((lo, lo_inc, hi, hi_inc))
        if not spans:
            del self.intervals[item]
        self._dirty = True

    def _region(self, x: float) -> int:
        i = bisect_left(self._edges, x)
        if i < len(self._edges) and self._edges[i] == x:
            return 2 * i + 1
        return 2 * i

    def _build(self) -> None:
        finite = {
            e
            for spans in self.intervals.values()
            for lo, _, hi, _ in spans
            for e in (lo, hi)
            if e not in (float("inf"), float("-inf"))
        }
        self._edges = sorted(finite)
        regions = 2 * len(self._edges) + 1
        size = 1
        while size < regions:
            size *= 2
        nodes: list[list[T] | None] = [None] * (2 * size)
        index = {e: i for i, e in enumerate(self._edges)}
        for item, spans in self.intervals.items():
            for lo, lo_inc, hi, hi_inc in spans:
                if lo == float("inf") or hi == float("-inf"):
                    continue  # empty
                start = 0 if lo == float("-inf") else 2 * index[lo] + (1 if lo_inc else 2)
                end = regions - 1 if hi == float("inf") else 2 * index[hi] + (1 if hi_inc else 0)
                left, right = start + size, end + size + 1
                while left < right:
                    if left & 1:
                        bucket = nodes[left]
                        if bucket is None:
                            nodes[left] = [item]
                        else:
                            bucket.append(item)
                        left += 1
                    if right & 1:
                        right -= 1
                        bucket = nodes[right]
                        if bucket is None:
                            nodes[right] = [item]
                        else:
                            bucket.append(item)
                    left >>= 1
                    right >>= 1
        self._nodes = nodes
        self._size = size
        self._dirty = False

    def containing(self, x: float) -> Iterator[T]:
        """Items with an interval that contains ``x``."""
        if self._dirty:
            self._build()
        p = self._region(x) + self._size
        nodes = self._nodes
        while p:
            bucket = nodes[p]
            if bucket:
                yield from bucket
            p >>= 1
