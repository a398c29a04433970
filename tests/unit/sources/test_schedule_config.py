"""The schedule source's config model validates expressions the way the source runs them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from processor.config.sources import ScheduleSource


@pytest.mark.parametrize(
    "expression", ["rate(1 minute)", "cron(0 9 ? * 6L *)", "cron(0 18 L * ? *)", "*/5 9-17 * * 1-5"]
)
def test_accepted(expression: str) -> None:
    assert ScheduleSource(name="s", bus="b", expression=expression).expression == expression


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(60 12 * * ? *)", "minutes value 60 is outside 0-59"),
        ("cron(0 12 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 9 ? * 3#6 *)", "'#' value 6 is outside 1-5"),
        ("0 12 * *", "got 4"),
        ("61 * * * *", "minutes value 61"),
    ],
)
def test_rejected_with_the_reason(expression: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScheduleSource(name="s", bus="b", expression=expression)
