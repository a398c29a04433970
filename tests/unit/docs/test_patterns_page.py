"""docs/patterns.md: every documented example gives the documented outcome."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from processor.patterns import PatternError, compile_pattern
from processor.router.core import aws_view, route

PAGE = Path(__file__).resolve().parents[3] / "docs" / "patterns.md"
TEXT = PAGE.read_text(encoding="utf-8")

_EXAMPLE = re.compile(
    r"```json\n(?P<pattern>[^`]*?)\n```\n\n"
    r"\| event \| matches(?P<router> in the router)? \|\n\|---\|---\|\n"
    r"(?P<rows>(?:\|[^\n]*\n)+)",
    re.S,
)
_ROW = re.compile(r"^\| `(?P<event>.*)` \| (?P<outcome>yes|no) \|$")
_ERROR_ROW = re.compile(
    r"^\| `(?P<pattern>\{.*\})` \| `(?P<message>Event pattern is not valid\. Reason: .*)` "
    r"at field `(?P<field>[^`]+)` \|$"
)


def _cases() -> list[tuple[str, str, bool, bool]]:
    cases: list[tuple[str, str, bool, bool]] = []
    for example in _EXAMPLE.finditer(TEXT):
        for line in example["rows"].splitlines():
            row = _ROW.match(line)
            assert row is not None, f"unreadable example row: {line}"
            cases.append(
                (example["pattern"], row["event"], row["outcome"] == "yes", bool(example["router"]))
            )
    return cases


CASES = _cases()
ERRORS = [m.groupdict() for m in map(_ERROR_ROW.match, TEXT.splitlines()) if m is not None]


def test_the_page_has_examples_for_every_operator() -> None:
    patterns = " ".join(case[0] for case in CASES)
    for operator in (
        '"prefix"',
        '"suffix"',
        '"equals-ignore-case"',
        '"wildcard"',
        '"anything-but"',
        '"numeric"',
        '"exists"',
        '"cidr"',
        '"$or"',
        '"detail-type"',
        '"data.severity"',
    ):
        assert operator in patterns, operator
    assert len(CASES) >= 50
    assert len(ERRORS) >= 8


@pytest.mark.parametrize(("pattern", "event", "expected", "router"), CASES)
def test_documented_outcome(pattern: str, event: str, expected: bool, router: bool) -> None:
    parsed = json.loads(event)  # the documented event is valid JSON
    if router:  # "matches in the router": through the router's AWS view
        assert compile_pattern(pattern).matches(aws_view(parsed)) is expected, event
    else:
        assert compile_pattern(pattern).matches(event) is expected, f"{pattern}\n{event}"


def test_the_router_really_matches_through_the_aws_view() -> None:
    assert "aws_view(event)" in inspect.getsource(route)


@pytest.mark.parametrize("case", ERRORS, ids=[case["pattern"] for case in ERRORS])
def test_documented_error(case: dict[str, str]) -> None:
    with pytest.raises(PatternError) as info:
        compile_pattern(case["pattern"])
    assert str(info.value) == f"{case['message']}\n at field: {case['field']}"


def test_command_line_examples_are_real() -> None:
    assert '$ kbridge test-pattern --pattern \'{"source":["saas.github"]}\'' in TEXT
