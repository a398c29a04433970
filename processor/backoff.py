"""One exponential backoff with jitter, for everything in kbridge that waits before trying again.

Sink retries (:mod:`processor.sinks.retry`), source reconnects
(:mod:`processor.sources.base`) and the config store's reader all wait the same way: the
ceiling doubles (``factor``) from ``base`` up to ``cap``, and a random part of it
(``jitter``) is drawn so that many clients retrying one recovering broker or destination
spread out instead of hammering it in lock-step (AWS Architecture Blog, "Exponential Backoff
And Jitter"). ``jitter=1`` is *full* jitter (``uniform(0, ceiling)``, the sinks' choice: AWS
EventBridge semantics), ``0.5`` *equal* jitter (``uniform(ceiling/2, ceiling)``, a reconnect
never comes back at once), ``0`` none.

:class:`Backoff` is a pure, frozen policy (the random source is a parameter, so schedules
are unit-tested without sleeping); :class:`BackoffCounter` adds the one piece of state a
reconnect loop needs, the number of consecutive failures, with :meth:`~BackoffCounter.reset`
after a healthy session. Nothing here sleeps: callers wait the way their loop waits
(``asyncio.sleep``, ``Event.wait``, a paused partition).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_EXPONENT = 62
"""Exponents past this only overflow; every sensible ``cap`` is reached long before."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Wait before retry ``n`` (1-based): a draw in ``[(1-jitter)*c, c]``,
    ``c = min(cap, base * factor**(n-1))``."""

    base: float = 1.0
    cap: float = 600.0
    factor: float = 2.0
    jitter: float = 1.0

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0 or self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError(
                f"invalid backoff base={self.base} cap={self.cap} factor={self.factor} "
                f"jitter={self.jitter}: need base, cap >= 0, factor >= 1, 0 <= jitter <= 1"
            )

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry number ``retry`` (1 for the first retry)."""
        exponent = min(max(retry - 1, 0), MAX_EXPONENT)
        try:
            grown = self.base * self.factor**exponent
        except OverflowError:
            return self.cap
        return min(self.cap, grown)

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """The wait before retry number ``retry``, drawn from ``rng`` (module random if None)."""
        ceiling = self.ceiling(retry)
        if self.jitter == 0 or ceiling == 0:
            return ceiling
        return (rng or _RNG).uniform(ceiling * (1.0 - self.jitter), ceiling)


_RNG = random.Random()


class BackoffCounter:
    """Consecutive failures of one loop, and the wait each one earns under ``policy``."""

    def __init__(self, policy: Backoff, *, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.failures = 0
        self._rng = rng

    def next_delay(self) -> float:
        """Count one more failure and return the wait before the next attempt."""
        self.failures += 1
        return self.policy.delay(self.failures, self._rng)

    def reset(self) -> None:
        """The loop is healthy again: the next failure waits the shortest time."""
        self.failures = 0
