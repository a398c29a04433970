"""Injectable time for code that waits: rate limits and digest windows test in microseconds.

Signatures need wall time (DingTalk and Feishu reject timestamps more than an hour off);
rate limiting and digest windows need a monotonic clock and a way to wait. Both live behind
one small protocol. :class:`ManualClock` ships with the code (not only in the tests) because
anyone embedding a sink in their own tests needs it too. It lives at the bottom of the
package (pure, no kbridge imports) so every process package may use it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """What waiting code (rate limiters, digest windows, signers) needs to know about time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (rate limits, windows)."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch (signature timestamps)."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time`, :func:`asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()
"""The shared real clock (one instance, so per-destination limiters are shared too)."""


class ManualClock:
    """A clock that moves only when told to.

    With ``auto_advance=True`` every ``sleep(d)`` moves time forward by ``d`` at once (and
    records ``d`` in :attr:`sleeps`): waiting code runs instantly yet sees time pass. With
    ``auto_advance=False`` sleepers block until :meth:`advance` moves time past their deadline,
    which lets a test interleave concurrent callers deterministically.
    """

    def __init__(self, *, start: float | None = None, auto_advance: bool = True) -> None:
        self._wall0 = time.time() if start is None else start
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

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._now += seconds
        self._wake()

    def _wake(self) -> None:
        due = [(t, f) for t, f in self._waiters if t <= self._now]
        self._waiters = [(t, f) for t, f in self._waiters if t > self._now]
        for _, future in due:
            if not future.done():
                future.set_result(None)
