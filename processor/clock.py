"""Injectable time for code that waits: rate limits and digest windows test in microseconds.

Signatures need wall time (DingTalk and Feishu reject timestamps more than an hour off);
rate limiting and digest windows need a monotonic clock and a way to wait. Both live behind
one small protocol. Schedules need the wall clock as an aware ``datetime`` and a sleep that
ends early when the source stops (:meth:`Clock.now`, :meth:`Clock.sleep_until`), so a test can
run a simulated hour of ticks in a second. :class:`ManualClock` (the only one: sinks and
sources share it) ships with the code, not only in the tests, because anyone embedding a sink
or a source in their own tests needs it too. It lives at the bottom of the package (pure, no
kbridge imports) so every process package may use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class Clock(Protocol):
    """What waiting code (rate limiters, digest windows, signers) needs to know about time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (rate limits, windows)."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch (signature timestamps)."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""

    def now(self) -> datetime:
        """The wall clock as an aware UTC ``datetime`` (schedules)."""

    async def sleep_until(self, when: datetime, interrupt: asyncio.Event) -> None:
        """Return at ``when`` or as soon as ``interrupt`` is set, whichever comes first."""


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time`, :func:`asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime, interrupt: asyncio.Event) -> None:
        """Sleeps in slices of at most a second, so wall-clock jumps are noticed."""
        while not interrupt.is_set():
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(interrupt.wait(), timeout=min(remaining, 1.0))


SYSTEM_CLOCK = SystemClock()
"""The shared real clock (one instance, so per-destination limiters are shared too)."""


class ManualClock:
    """A clock that moves only when told to.

    With ``auto_advance=True`` every ``sleep(d)`` moves time forward by ``d`` at once (and
    records ``d`` in :attr:`sleeps`): waiting code runs instantly yet sees time pass. With
    ``auto_advance=False`` sleepers block until :meth:`advance` moves time past their deadline,
    which lets a test interleave concurrent callers deterministically.
    """

    def __init__(
        self, start: float | datetime | None = None, *, auto_advance: bool = True
    ) -> None:
        if isinstance(start, datetime):
            if start.tzinfo is None:
                raise ValueError("ManualClock needs an aware start time")
            self._start = start
        else:
            self._start = datetime.fromtimestamp(time.time() if start is None else start, UTC)
        self._wall0 = self._start.timestamp()
        self._now = 0.0
        self.auto_advance = auto_advance
        self.sleeps: list[float] = []
        self._waiters: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._wall0 + self._now

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        if seconds == 0:
            await asyncio.sleep(0)
            return
        if self.auto_advance:
            self._now += seconds
            self._wake()
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((self._now + seconds, future))
        await future

    def advance(self, seconds: float | timedelta) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        self._now += max(0.0, seconds)
        self._wake()

    def set(self, when: datetime) -> None:
        """Move the wall clock to ``when``; never backwards (earlier instants are ignored)."""
        self._now = max(self._now, (when - self._start).total_seconds())
        self._wake()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._now)

    async def sleep_until(self, when: datetime, interrupt: asyncio.Event) -> None:
        """Like :meth:`sleep` up to ``when``, but ``interrupt`` ends it early."""
        deadline = (when - self._start).total_seconds()
        if deadline <= self._now or interrupt.is_set():
            await asyncio.sleep(0)
            return
        if self.auto_advance:
            self.set(when)
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((deadline, future))
        interrupted = asyncio.ensure_future(interrupt.wait())
        waits: set[asyncio.Future[Any]] = {future, interrupted}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupted.cancel()
            if not future.done():
                future.cancel()
                self._waiters = [(t, f) for t, f in self._waiters if f is not future]

    def _wake(self) -> None:
        due = [(t, f) for t, f in self._waiters if t <= self._now]
        self._waiters = [(t, f) for t, f in self._waiters if t > self._now]
        for _, future in due:
            if not future.done():
                future.set_result(None)
