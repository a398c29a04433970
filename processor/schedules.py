"""Schedule expressions: EventBridge ``rate()`` and ``cron()``, plus standard five-field cron.

Pure (no I/O, no kbridge imports), so the configuration checks and the schedule source
parse with the same code: an expression ``kbridge validate`` accepts is one the source runs.

Why our own parser rather than croniter: AWS's cron has six fields (minutes, hours,
day-of-month, month, day-of-week, year), numbers days of the week 1-7 from Sunday, demands
``?`` in exactly one of the two day fields, and supports ``L``, ``W`` and ``#``; croniter
speaks Unix cron (days 0-7 from Sunday, both day fields OR-ed). Getting those differences
right inside an adapter is harder than the ~200 lines below.

Supported forms::

    rate(1 minute) | rate(5 minutes) | rate(2 hours) | rate(1 day)
    cron(0 12 * * ? *)         AWS: min hour day-of-month month day-of-week year
    cron(0/15 * ? * MON-FRI *) AWS with steps, ranges and names
    cron(0 18 L * ? *)         last day of the month;  15W: weekday nearest the 15th
    cron(0 9 ? * 6L *)         last Friday;            3#2: second Tuesday
    cron(*/5 9-17 * * 1-5)     standard five-field (Unix) cron: days 0-7 from Sunday
    */5 9-17 * * 1-5           the same without the ``cron(...)`` wrapper

Ticks are wall-clock times in the schedule's time zone (``zoneinfo``). Local times that do
not exist (the spring-forward gap) are skipped; times that exist twice (fall-back) fire once,
at their first occurrence. ``rate()`` ticks are aligned to multiples of the period since the
Unix epoch, so every process computes the same ticks without talking to the others.
"""

from __future__ import annotations

import abc
import calendar
import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CronSchedule",
    "RateSchedule",
    "Schedule",
    "ScheduleExpressionError",
    "parse_schedule",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
# AWS numbers days 1 (SUN) .. 7 (SAT); Unix cron 0 (SUN) .. 6 (SAT), 7 = SUN again.
_AWS_DAYS = {d: i + 1 for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
_UNIX_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
_MAX_YEAR = 2199
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$", re.I)
_CRON = re.compile(r"^cron\((.*)\)$", re.I | re.S)


class ScheduleExpressionError(ValueError):
    """An expression kbridge cannot parse; the message says which part and why."""


class Schedule(abc.ABC):
    """A parsed expression: knows the next tick after any instant."""

    expression: str

    @abc.abstractmethod
    def next_after(self, instant: datetime) -> datetime | None:
        """The first tick strictly after ``instant`` (aware), in UTC; None when none is left."""

    def ticks_between(
        self, start: datetime, end: datetime, limit: int | None = None
    ) -> list[datetime]:
        """Every tick ``t`` with ``start < t <= end``, oldest first (the first ``limit``)."""
        ticks: list[datetime] = []
        tick = self.next_after(start)
        while tick is not None and tick <= end and (limit is None or len(ticks) < limit):
            ticks.append(tick)
            tick = self.next_after(tick)
        return ticks


@dataclass(frozen=True)
class RateSchedule(Schedule):
    """``rate(n unit)``: every ``period``, aligned to the Unix epoch."""

    expression: str
    period: timedelta

    def next_after(self, instant: datetime) -> datetime:
        _require_aware(instant)
        elapsed = instant.astimezone(UTC) - _EPOCH
        periods = elapsed // self.period + 1
        return _EPOCH + periods * self.period


@dataclass(frozen=True)
class _DayRule:
    """Which days of a month a cron expression selects."""

    months: frozenset[int]
    years: frozenset[int] | None  # None: any year
    days: frozenset[int] | None = None  # plain day-of-month numbers; None: unrestricted
    last_day: bool = False  # L in day-of-month
    nearest_weekday: int | None = None  # nW
    weekdays: frozenset[int] | None = None  # Monday=0 .. Sunday=6 (datetime.weekday())
    last_weekday: int | None = None  # 5L: last Friday
    nth_weekday: tuple[int, int] | None = None  # (weekday, n) for 3#2
    union: bool = False  # Unix cron: both day fields restricted -> either matches

    def matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        if self.years is not None and day.year not in self.years:
            return False
        by_month = self._month_day(day)
        by_week = self._week_day(day)
        if by_month is None and by_week is None:
            return True
        if by_month is None or by_week is None:
            return bool(by_month if by_week is None else by_week)
        return (by_month or by_week) if self.union else (by_month and by_week)

    def _month_day(self, day: date) -> bool | None:
        last = calendar.monthrange(day.year, day.month)[1]
        if self.last_day:
            return day.day == last
        if self.nearest_weekday is not None:
            return day == _nearest_weekday(day.year, day.month, self.nearest_weekday)
        if self.days is None:
            return None
        return day.day in self.days

    def _week_day(self, day: date) -> bool | None:
        weekday = day.weekday()
        if self.last_weekday is not None:
            last = calendar.monthrange(day.year, day.month)[1]
            return weekday == self.last_weekday and day.day + 7 > last
        if self.nth_weekday is not None:
            wanted, nth = self.nth_weekday
            return weekday == wanted and (day.day - 1) // 7 + 1 == nth
        if self.weekdays is None:
            return None
        return weekday in self.weekdays


@dataclass(frozen=True)
class CronSchedule(Schedule):
    """A cron expression evaluated in ``timezone``."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    day_rule: _DayRule
    timezone: ZoneInfo

    def next_after(self, instant: datetime) -> datetime | None:
        _require_aware(instant)
        after = instant.astimezone(UTC)
        day = after.astimezone(self.timezone).date() - timedelta(days=1)  # DST slack
        years = self.day_rule.years
        last_year = max(years) if years else _MAX_YEAR
        while day.year <= last_year:
            if years is not None and day.year not in years:
                day = date(day.year + 1, 1, 1)
                continue
            if self.day_rule.matches(day):
                for tick in self._ticks_of(day):
                    if tick > after:
                        return tick
            day += timedelta(days=1)
        return None

    def _ticks_of(self, day: date) -> tuple[datetime, ...]:
        return _day_ticks(self, day)

    def _compute_ticks_of(self, day: date) -> tuple[datetime, ...]:
        ticks = []
        for hour in self.hours:
            for minute in self.minutes:
                naive = datetime(day.year, day.month, day.day, hour, minute)
                local = naive.replace(tzinfo=self.timezone, fold=0)
                as_utc = local.astimezone(UTC)
                if as_utc.astimezone(self.timezone).replace(tzinfo=None) != naive:
                    continue  # inside the spring-forward gap: this local time never happens
                ticks.append(as_utc)
        return tuple(ticks)


@functools.lru_cache(maxsize=64)
def _day_ticks(schedule: CronSchedule, day: date) -> tuple[datetime, ...]:
    """The ticks of one local day, cached: consecutive ``next_after`` calls share a day."""
    return schedule._compute_ticks_of(day)


def parse_schedule(expression: str, timezone: str = "UTC") -> Schedule:
    """Parse ``rate(...)``, ``cron(...)`` (six AWS or five Unix fields) or bare five-field cron.

    Raises :class:`ScheduleExpressionError` naming the offending part.
    """
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).lower().rstrip("s")
        if value <= 0:
            raise ScheduleExpressionError(f"{expression}: the rate value must be positive")
        return RateSchedule(text, timedelta(**{f"{unit}s": value}))
    if text.lower().startswith("rate"):
        raise ScheduleExpressionError(
            f"{expression}: expected rate(<positive integer> minute(s)|hour(s)|day(s))"
        )
    cron = _CRON.match(text)
    fields = (cron.group(1) if cron else text).split()
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleExpressionError(f"unknown time zone {timezone!r}") from exc
    if len(fields) == 6:
        return _parse_aws(text, fields, zone)
    if len(fields) == 5:
        return _parse_unix(text, fields, zone)
    raise ScheduleExpressionError(
        f"{expression}: must be rate(<n> minute(s)|hour(s)|day(s)), a cron expression of 6 "
        "fields (AWS: minutes hours day-of-month month day-of-week year) or 5 (Unix), "
        f"got {len(fields)}"
    )


def _parse_aws(text: str, fields: list[str], zone: ZoneInfo) -> CronSchedule:
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleExpressionError(
            f"{text}: exactly one of day-of-month and day-of-week must be '?'"
        )
    kwargs: dict[str, object] = {}
    if dom != "?":
        kwargs.update(_day_of_month(text, dom))
    if dow != "?":
        kwargs.update(_day_of_week(text, dow, aws=True))
    years = None if year == "*" else frozenset(_field(text, "year", year, 1970, _MAX_YEAR))
    return _cron(text, minute, hour, month, zone, years=years, **kwargs)


def _parse_unix(text: str, fields: list[str], zone: ZoneInfo) -> CronSchedule:
    minute, hour, dom, month, dow = fields
    kwargs: dict[str, object] = {}
    dom_restricted = dom not in ("*", "?")
    dow_restricted = dow not in ("*", "?")
    if dom_restricted:
        kwargs.update(_day_of_month(text, dom))
    if dow_restricted:
        kwargs.update(_day_of_week(text, dow, aws=False))
    union = dom_restricted and dow_restricted  # Unix cron ORs two restricted day fields
    return _cron(text, minute, hour, month, zone, years=None, union=union, **kwargs)


def _cron(
    text: str, minute: str, hour: str, month: str, zone: ZoneInfo, **day_rule: object
) -> CronSchedule:
    """The fields both dialects share; ``day_rule`` holds each dialect's day and year parts."""
    rule = _DayRule(
        months=frozenset(_field(text, "month", month, 1, 12, _MONTHS)),
        **day_rule,  # type: ignore[arg-type]
    )
    return CronSchedule(
        text,
        tuple(sorted(_field(text, "minutes", minute, 0, 59))),
        tuple(sorted(_field(text, "hours", hour, 0, 23))),
        rule,
        zone,
    )


def _day_of_month(text: str, spec: str) -> dict[str, object]:
    upper = spec.upper()
    if upper == "L":
        return {"last_day": True}
    if upper.endswith("W"):
        day = _number(text, "day-of-month", upper[:-1], 1, 31)
        return {"nearest_weekday": day}
    return {"days": frozenset(_field(text, "day-of-month", spec, 1, 31))}


def _day_of_week(text: str, spec: str, *, aws: bool) -> dict[str, object]:
    upper = spec.upper()
    names, low, high = (_AWS_DAYS, 1, 7) if aws else (_UNIX_DAYS, 0, 7)

    def to_weekday(value: int) -> int:
        """AWS 1=SUN..7=SAT or Unix 0/7=SUN..6=SAT -> datetime.weekday() (Monday=0)."""
        sunday_based = value - 1 if aws else value % 7
        return (sunday_based - 1) % 7

    if "#" in upper:
        day, _, nth = upper.partition("#")
        weekday = to_weekday(_number(text, "day-of-week", day, low, high, names))
        return {"nth_weekday": (weekday, _number(text, "day-of-week '#'", nth, 1, 5))}
    if upper.endswith("L") and upper != "L":
        weekday = to_weekday(_number(text, "day-of-week", upper[:-1], low, high, names))
        return {"last_weekday": weekday}
    if upper == "L":  # Quartz: L alone in day-of-week is the last day of the week
        return {"weekdays": frozenset({5})}
    values = _field(text, "day-of-week", spec, low, high, names)
    return {"weekdays": frozenset(to_weekday(v) for v in values)}


def _field(
    text: str, name: str, spec: str, low: int, high: int, names: dict[str, int] | None = None
) -> set[int]:
    """Parse ``*``, ``a``, ``a-b``, ``*/s``, ``a/s``, ``a-b/s`` and comma lists of those."""
    values: set[int] = set()
    for part in spec.split(","):
        base, slash, step_text = part.partition("/")
        step = _number(text, name + " step", step_text, 1, high) if slash else 1
        if base == "*":
            start, stop = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _number(text, name, first, low, high, names)
            stop = _number(text, name, last, low, high, names)
            if stop < start:
                raise ScheduleExpressionError(f"{text}: {name} range {base!r} runs backwards")
        else:
            start = _number(text, name, base, low, high, names)
            stop = high if slash else start
        values.update(range(start, stop + 1, step))
    return values


def _number(
    text: str, name: str, token: str, low: int, high: int, names: dict[str, int] | None = None
) -> int:
    upper = token.upper()
    if names and upper in names:
        return names[upper]
    if not upper.isdigit():
        raise ScheduleExpressionError(f"{text}: invalid {name} value {token!r}")
    value = int(upper)
    if not low <= value <= high:
        raise ScheduleExpressionError(f"{text}: {name} value {value} is outside {low}-{high}")
    return value


def _nearest_weekday(year: int, month: int, day: int) -> date:
    """Quartz ``W``: the weekday nearest ``day`` without leaving the month."""
    last = calendar.monthrange(year, month)[1]
    target = date(year, month, min(day, last))
    weekday = target.weekday()
    if weekday == 5:  # Saturday -> Friday, unless that leaves the month
        return target - timedelta(days=1) if target.day > 1 else target + timedelta(days=2)
    if weekday == 6:  # Sunday -> Monday, unless that leaves the month
        return target + timedelta(days=1) if target.day < last else target - timedelta(days=2)
    return target


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None:
        raise ValueError("schedule computations need an aware datetime (with tzinfo)")
