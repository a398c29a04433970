"""Schedule expressions: AWS six-field cron, Unix five-field cron, rate(), time zones."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from processor.schedules import ScheduleExpressionError, parse_schedule

T0 = datetime(2026, 11, 26, 16, 7, 30, tzinfo=UTC)


def next_n(expression: str, n: int, start: datetime = T0, tz: str = "UTC") -> list[datetime]:
    schedule = parse_schedule(expression, tz)
    ticks, tick = [], start
    for _ in range(n):
        tick = schedule.next_after(tick)
        ticks.append(tick)
    return ticks


def test_rate_ticks_are_aligned_to_the_epoch_and_count_exactly() -> None:
    schedule = parse_schedule("rate(1 minute)")
    ticks = schedule.ticks_between(T0, T0 + timedelta(hours=1))
    assert len(ticks) == 60
    assert all(t.second == 0 and t.microsecond == 0 for t in ticks)
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(ticks))
    assert parse_schedule("rate(5 minutes)").next_after(T0) == T0.replace(minute=10, second=0)
    assert parse_schedule("rate(2 hours)").next_after(T0) == T0.replace(hour=18, minute=0, second=0)
    day = parse_schedule("rate(1 day)").next_after(T0)
    assert day == datetime(2026, 11, 27, tzinfo=UTC)


def test_rate_boundary_is_exclusive_of_start_and_inclusive_of_end() -> None:
    schedule = parse_schedule("rate(10 minutes)")
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    ticks = schedule.ticks_between(start, start + timedelta(minutes=30))
    assert ticks == [start + timedelta(minutes=m) for m in (10, 20, 30)]


def test_aws_cron_every_day_at_noon() -> None:
    ticks = next_n("cron(0 12 * * ? *)", 3)
    assert ticks == [datetime(2026, 11, d, 12, tzinfo=UTC) for d in (27, 28, 29)]


def test_aws_cron_weekdays_by_name_and_number_agree() -> None:
    by_name = next_n("cron(0/15 9 ? * MON-FRI *)", 40)
    by_number = next_n("cron(0/15 9 ? * 2-6 *)", 40)
    assert by_name == by_number
    assert {t.weekday() for t in by_name} == {0, 1, 2, 3, 4}
    assert {t.minute for t in by_name} == {0, 15, 30, 45}


def test_aws_last_day_of_month() -> None:
    ticks = next_n("cron(0 18 L * ? *)", 4)
    assert [t.date().isoformat() for t in ticks] == [
        "2026-11-30",
        "2026-12-31",
        "2027-01-31",
        "2027-02-28",
    ]


def test_aws_last_friday_and_nth_weekday() -> None:
    fridays = next_n("cron(0 9 ? * 6L *)", 3)
    assert all(t.weekday() == 4 and (t + timedelta(days=7)).month != t.month for t in fridays)
    second_tuesdays = next_n("cron(0 9 ? * 3#2 *)", 12)
    assert all(t.weekday() == 1 and 8 <= t.day <= 14 for t in second_tuesdays)
    assert len({t.month for t in second_tuesdays}) == 12


def test_aws_nearest_weekday() -> None:
    # 2027-05-15 is a Saturday -> Friday 14th; 2027-08-15 is a Sunday -> Monday 16th
    ticks = next_n("cron(0 9 15W * ? *)", 12, datetime(2027, 1, 1, tzinfo=UTC))
    by_month = {(t.year, t.month): t.day for t in ticks}
    assert by_month[(2027, 8)] == 16
    assert by_month[(2027, 5)] == 14
    assert all(t.weekday() < 5 for t in ticks)
    # 1W on a Saturday must not leave the month: Monday the 3rd
    first = parse_schedule("cron(0 0 1W * ? *)").next_after(datetime(2027, 4, 20, tzinfo=UTC))
    assert first == datetime(2027, 5, 3, tzinfo=UTC)


def test_aws_year_field_limits_ticks() -> None:
    ticks = parse_schedule("cron(0 0 1 1 ? 2027-2028)").ticks_between(
        T0, datetime(2035, 1, 1, tzinfo=UTC)
    )
    assert ticks == [datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)]


def test_time_zone_shifts_ticks_and_handles_dst() -> None:
    berlin = next_n("cron(0 10 * * ? *)", 2, tz="Europe/Berlin")
    assert [t.astimezone(ZoneInfo("Europe/Berlin")).hour for t in berlin] == [10, 10]
    assert berlin[0].hour == 9  # CET is UTC+1 in November
    # 02:30 does not exist on 2027-03-28 in Berlin (spring forward): skipped
    before = datetime(2027, 3, 27, 12, tzinfo=UTC)
    ticks = parse_schedule("cron(30 2 * * ? *)", "Europe/Berlin").ticks_between(
        before, before + timedelta(days=2)
    )
    assert [t.astimezone(ZoneInfo("Europe/Berlin")).date().day for t in ticks] == [29]
    # 02:30 exists twice on 2027-10-31 (fall back): fires once
    before = datetime(2027, 10, 30, 12, tzinfo=UTC)
    ticks = parse_schedule("cron(30 2 * * ? *)", "Europe/Berlin").ticks_between(
        before, before + timedelta(days=1)
    )
    assert len(ticks) == 1


@pytest.mark.parametrize(
    "expression",
    [
        "*/5 * * * *",
        "0 9-17 * * 1-5",
        "15,45 */2 1,15 * *",
        "0 0 * * 0",
        "0 0 * * 7",
        "30 6 1-7 * 1",  # both day fields restricted: Unix ORs them
        "0 12 * JAN,JUL *",
        "5 4 * * SUN",
    ],
)
def test_unix_five_field_matches_croniter(expression: str) -> None:
    start = datetime(2026, 2, 20, 13, 17, tzinfo=UTC)
    reference = croniter(expression, start)
    expected = [reference.get_next(datetime) for _ in range(200)]
    assert next_n(expression, 200, start) == expected
    assert next_n(f"cron({expression})", 5, start) == expected[:5]


def test_random_unix_expressions_match_croniter() -> None:
    rng = random.Random(9)
    for _ in range(40):
        minute = rng.choice(["*", f"*/{rng.randint(2, 30)}", str(rng.randint(0, 59))])
        hour = rng.choice(["*", f"{rng.randint(0, 11)}-{rng.randint(12, 23)}", "*/3"])
        dom = rng.choice(["*", str(rng.randint(1, 28)), f"1-{rng.randint(2, 28)}"])
        dow = rng.choice(["*", str(rng.randint(0, 6)), "1-5"])
        expression = f"{minute} {hour} {dom} * {dow}"
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 500_000))
        reference = croniter(expression, start)
        assert next_n(expression, 30, start) == [reference.get_next(datetime) for _ in range(30)], (
            expression
        )


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 12 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 12 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(60 12 * * ? *)", "minutes value 60 is outside 0-59"),
        ("cron(0 12 * 13 ? *)", "month value 13 is outside 1-12"),
        ("cron(0 12 ? * 8 *)", "day-of-week value 8 is outside 1-7"),
        ("cron(0 12 * *)", "got 4"),
        ("cron(0 5-1 * * ? *)", "runs backwards"),
        ("cron(0 x * * ? *)", "invalid hours value 'x'"),
        ("rate(0 minutes)", "must be positive"),
        ("rate(5 weeks)", "expected rate("),
    ],
)
def test_invalid_expressions_name_the_problem(expression: str, message: str) -> None:
    with pytest.raises(ScheduleExpressionError, match=message.replace("(", r"\(")):
        parse_schedule(expression)


def test_unknown_time_zone_and_naive_instants_are_rejected() -> None:
    with pytest.raises(ScheduleExpressionError, match="unknown time zone"):
        parse_schedule("cron(0 12 * * ? *)", "Mars/Olympus")
    with pytest.raises(ValueError, match="aware"):
        parse_schedule("rate(1 minute)").next_after(datetime(2026, 1, 1))


def test_ticks_between_honours_a_limit() -> None:
    schedule = parse_schedule("rate(1 minute)")
    ticks = schedule.ticks_between(T0, T0 + timedelta(days=30), limit=500)
    assert len(ticks) == 500
    assert ticks == schedule.ticks_between(T0, ticks[-1])
