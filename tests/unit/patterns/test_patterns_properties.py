"""Properties of the index: it agrees with the reference matcher, whatever the history.

Rule insertion order, removals, re-insertions and replacements must never change which
rules an event matches: the index after any sequence of changes answers like a fresh index
of the surviving rules, and like the naive reference matcher.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tests.support.pattern_strategies as gen
from processor.patterns import PatternError, RuleIndex, _reference_matches, compile_pattern

EXAMPLES = 2000 if os.environ.get("KBRIDGE_HYPOTHESIS_PROFILE") == "long" else 100
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _valid(patterns: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    out = []
    for i, p in enumerate(patterns):
        try:
            out.append((f"r{i}", compile_pattern(p)))
        except PatternError:
            continue
    return out


def _expected(rules: list[tuple[str, Any]], event: dict[str, Any]) -> set[str]:
    return {name for name, p in rules if _reference_matches(p, event)}


@SETTINGS
@given(
    patterns=st.lists(gen.pattern_objects(), min_size=1, max_size=8),
    events=st.lists(gen.events(), min_size=1, max_size=4),
)
def test_index_agrees_with_reference(
    patterns: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    """Many rules in one index give the same answer as each rule checked alone."""
    rules = _valid(patterns)
    index = RuleIndex()
    for name, p in rules:
        index.add(name, p)
    for event in events:
        assert index.matches(event) == _expected(rules, event)


@SETTINGS
@given(
    patterns=st.lists(gen.pattern_objects(), min_size=1, max_size=6),
    noise=st.lists(gen.pattern_objects(), max_size=4),
    events=st.lists(gen.events(), min_size=1, max_size=3),
    data=st.data(),
)
def test_history_never_changes_results(
    patterns: list[dict[str, Any]],
    noise: list[dict[str, Any]],
    events: list[dict[str, Any]],
    data: st.DataObject,
) -> None:
    """Shuffled insertion, temporary rules, removal and re-adding, replacement: same answers."""
    rules = _valid(patterns)
    extra = [(f"noise{i}", p) for i, (_, p) in enumerate(_valid(noise))]
    fresh = RuleIndex()
    for name, p in rules:
        fresh.add(name, p)

    churned = RuleIndex()
    operations = data.draw(st.permutations(rules + extra), label="insertion order")
    for name, p in operations:
        churned.add(name, p)
    for name, _ in data.draw(st.permutations(extra), label="removal order"):
        churned.remove(name)
    readd = (
        data.draw(st.lists(st.sampled_from(rules), max_size=3, unique_by=lambda r: r[0]))
        if rules
        else []
    )
    for name, _ in readd:
        churned.remove(name)
    for name, p in reversed(readd):
        churned.add(name, p)
    if rules and extra:
        # Replacing a rule under the same name and then restoring it leaves no trace.
        name, p = rules[0]
        churned.add(name, extra[0][1])
        churned.add(name, p)

    assert sorted(churned.names()) == sorted(n for n, _ in rules)
    for event in events:
        expected = _expected(rules, event)
        assert fresh.matches(event) == expected
        assert churned.matches(event) == expected


@SETTINGS
@given(patterns=st.lists(gen.pattern_objects(), min_size=1, max_size=6), event=gen.events())
def test_removing_everything_leaves_an_empty_index(
    patterns: list[dict[str, Any]], event: dict[str, Any]
) -> None:
    """After removing every rule nothing matches, even exists:false-only rules."""
    index = RuleIndex()
    rules = _valid(patterns)
    for name, p in rules:
        index.add(name, p)
    for name, _ in rules:
        index.remove(name)
    assert len(index) == 0
    assert index.matches(event) == set()
