"""All 155 AWS conformance cases, against the compiled index and the reference matcher."""

from __future__ import annotations

import json
import random

import pytest

from processor.patterns import PatternError, RuleIndex, _reference_matches, compile_pattern
from tests.support.conformance_cases import Case, load_cases

CASES = load_cases()
VALID = [c for c in CASES if not c.invalid]
INVALID = [c for c in CASES if c.invalid]


def test_all_cases_are_present() -> None:
    """The suite is the whole conformance set, with AWS's message for every rejection."""
    assert len(CASES) == 155
    assert all(c.aws_error for c in INVALID)


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
def test_valid_case(case: Case) -> None:
    """Index (from mapping and from text) and reference matcher give AWS's answer."""
    pattern = compile_pattern(case.pattern)
    assert pattern.matches(case.event) is case.matches
    assert pattern.matches(json.dumps(case.event)) is case.matches
    assert compile_pattern(json.dumps(case.pattern)).matches(case.event) is case.matches
    assert _reference_matches(pattern, case.event) is case.matches


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.name)
def test_invalid_case(case: Case) -> None:
    """Rejected with exactly AWS's message on the first line."""
    with pytest.raises(PatternError) as info:
        compile_pattern(json.dumps(case.pattern))
    assert str(info.value).split("\n")[0] == case.aws_error


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_all_cases_in_one_index(seed: int) -> None:
    """Every valid case as a rule of one index, inserted in shuffled order: each event
    matches exactly the rules that, on their own, match it."""
    rules = list(VALID)
    random.Random(seed).shuffle(rules)
    index = RuleIndex()
    for case in rules:
        index.add(case.name, case.pattern)
    for case in VALID:
        expected = {
            r.name for r in VALID if _reference_matches(compile_pattern(r.pattern), case.event)
        }
        assert case.name in expected or not case.matches
        assert index.matches(case.event) == expected
