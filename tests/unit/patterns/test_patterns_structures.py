"""The lookup structures against brute force: affix maps and the interval tree."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processor.patterns.structures import AffixMap, IntervalIndex

_bounds = st.sampled_from([-2.5, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 10.0, float("inf"), float("-inf")])
_intervals = st.tuples(_bounds, st.booleans(), _bounds, st.booleans())


@settings(max_examples=200, deadline=None)
@given(
    added=st.lists(_intervals, max_size=12),
    removed=st.data(),
    points=st.lists(st.sampled_from([-3.0, -2.5, -1.0, 0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 10.0, 11.0])),
)
def test_interval_index_finds_exactly_the_containing_intervals(
    added: list[tuple[float, bool, float, bool]], removed: st.DataObject, points: list[float]
) -> None:
    index: IntervalIndex[int] = IntervalIndex()
    live: dict[int, tuple[float, bool, float, bool]] = {}
    for item, (lo, lo_inc, hi, hi_inc) in enumerate(added):
        if lo > hi:
            lo, hi = hi, lo
        index.add(lo, lo_inc, hi, hi_inc, item)
        live[item] = (lo, lo_inc, hi, hi_inc)
    for item in removed.draw(
        st.lists(st.sampled_from(sorted(live)), unique=True) if live else st.just([])
    ):
        index.remove(*live.pop(item), item)
    for x in points:
        expected = {
            item
            for item, (lo, lo_inc, hi, hi_inc) in live.items()
            if (lo < x or (lo == x and lo_inc)) and (x < hi or (x == hi and hi_inc))
        }
        assert set(index.containing(x)) == expected


@settings(max_examples=200, deadline=None)
@given(
    keys=st.lists(st.text(alphabet="abé", max_size=4), max_size=10),
    values=st.lists(st.text(alphabet="abé", max_size=6), max_size=5),
)
def test_affix_map_finds_every_prefix_and_suffix(keys: list[str], values: list[str]) -> None:
    prefixes: AffixMap[int] = AffixMap()
    suffixes: AffixMap[int] = AffixMap()
    for item, key in enumerate(keys):
        prefixes.add(key, item)
        suffixes.add(key, item)
    for item, key in enumerate(keys[::2]):
        prefixes.remove(key, item * 2)
        suffixes.remove(key, item * 2)
    live = {i: k for i, k in enumerate(keys) if i % 2}
    for value in values:
        assert sorted(prefixes.starting(value)) == sorted(
            i for i, k in live.items() if value.startswith(k)
        )
        assert sorted(suffixes.ending(value)) == sorted(
            i for i, k in live.items() if value.endswith(k)
        )
