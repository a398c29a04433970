"""Durations: the units operators write, seconds inside, clear errors otherwise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.config import RetryPolicy
from processor.config.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("60s", 60.0),
        ("15m", 900.0),
        ("24h", 86400.0),
        ("7d", 604800.0),
        ("2w", 1209600.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        (" 90 s ", 90.0),
        ("90", 90.0),
        (90, 90.0),
        (1.5, 1.5),
    ],
)
def test_parse_duration_accepts_units_and_seconds(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "h", "10x", "-5s", "1h30m", -1, True, None, [1]])
def test_parse_duration_rejects_other_input(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(604800, "1w"), (259200, "3d"), (86400, "1d"), (5400, "90m"), (90, "90s"), (0.25, "0.25s")],
)
def test_format_duration_is_the_shortest_exact_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(min_value=0, max_value=10 * 365 * 86400))
def test_format_then_parse_is_the_identity(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(min_value=60, max_value=86400))
def test_retry_max_age_accepts_every_formatted_duration_in_range(seconds: int) -> None:
    assert RetryPolicy.model_validate({"max_age": format_duration(seconds)}).max_age == seconds
