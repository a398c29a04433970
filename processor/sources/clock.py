"""Clocks for the schedule source: the wall clock, and a manual one for tests and tools.

The schedule loop only asks "what time is it" and "wake me at T (or earlier if something
happens)"; making that a parameter lets a test run a simulated hour in a second while the
Kafka side (leader election, transactions, state topic) stays real.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Time source of a schedule."""

    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...

    async def sleep_until(self, when: datetime, interrupt: asyncio.Event) -> None:
        """Return at ``when`` or as soon as ``interrupt`` is set, whichever comes first."""
        ...


class SystemClock:
    """The wall clock; sleeps in slices of at most a second so clock jumps are noticed."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime, interrupt: asyncio.Event) -> None:
        while not interrupt.is_set():
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(interrupt.wait(), timeout=min(remaining, 1.0))


class ManualClock:
    """A clock that moves only when told to (:meth:`advance`, :meth:`set`).

    Sleepers wake when the time they wait for is reached. Shared by several schedule sources
    in one process, it simulates several processes watching the same wall clock.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware start time")
        self._now = start
        self._changed = asyncio.Condition()

    def now(self) -> datetime:
        return self._now

    async def set(self, when: datetime) -> None:
        async with self._changed:
            self._now = max(self._now, when)
            self._changed.notify_all()

    async def advance(self, delta: timedelta) -> None:
        await self.set(self._now + delta)

    async def sleep_until(self, when: datetime, interrupt: asyncio.Event) -> None:
        async with self._changed:
            while self._now < when and not interrupt.is_set():
                with contextlib.suppress(TimeoutError):
                    # the timeout lets ``interrupt`` be noticed without a notify
                    await asyncio.wait_for(self._changed.wait(), timeout=0.1)
