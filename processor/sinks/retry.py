"""When to try a failed delivery again, and when to give up (AWS EventBridge semantics).

A rule target's retry policy bounds the retries by count (``max_attempts`` retries, 0-185,
default 185) and by event age (``max_age``, 60 s to 24 h, default 24 h). Between attempts
the worker waits an exponential backoff with *full jitter* (a uniform draw between zero and
the capped exponential), so that many workers retrying one recovering destination spread
out instead of hammering it in lock-step. A destination's ``Retry-After``
(:class:`~processor.errors.BackpressureError`) is a floor under that wait. Errors whose
``retriable`` attribute is false give up at once: retrying a 400 cannot succeed.

This module is pure (clock and random source are parameters) so the schedule is unit-tested
without sleeping. The backoff itself is :class:`processor.backoff.Backoff` (full jitter by
default, the one backoff of kbridge), re-exported here for the worker's settings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Literal

from processor.backoff import Backoff
from processor.errors import BackpressureError, is_retriable

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_ATTEMPTS",
    "Backoff",
    "Decision",
    "GiveUp",
    "RetryAt",
    "RetryLimits",
    "decide",
]

DEFAULT_MAX_ATTEMPTS: Final = 185
DEFAULT_MAX_AGE: Final = 24 * 3600.0

ExhaustedCondition = Literal["attempts", "age", "non-retriable"]


@dataclass(frozen=True, slots=True)
class RetryLimits:
    """The bounds of one rule target's retries (mirrors the config's ``RetryPolicy``)."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_age: float = DEFAULT_MAX_AGE

    @classmethod
    def from_policy(cls, policy: Any) -> RetryLimits:
        """Read a config ``RetryPolicy`` (or ``None``) whatever number type its fields use."""
        if policy is None:
            return cls()
        attempts = getattr(policy, "max_attempts", None)
        age = getattr(policy, "max_age", None)
        if isinstance(age, timedelta):
            age = age.total_seconds()
        return cls(
            max_attempts=DEFAULT_MAX_ATTEMPTS if attempts is None else int(attempts),
            max_age=DEFAULT_MAX_AGE if age is None else float(age),
        )


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Try again after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop retrying; ``condition`` says why (goes into ``kbridge-exhausted-condition``)."""

    condition: ExhaustedCondition


Decision = RetryAt | GiveUp


def decide(
    exc: BaseException,
    *,
    attempts: int,
    age: float,
    limits: RetryLimits,
    backoff: Backoff,
    rng: random.Random,
) -> Decision:
    """What to do after the ``attempts``-th failed attempt of an event now ``age`` s old."""
    if not is_retriable(exc):
        return GiveUp("non-retriable")
    if attempts > limits.max_attempts:
        return GiveUp("attempts")
    delay = backoff.delay(attempts, rng)
    if isinstance(exc, BackpressureError) and exc.retry_after is not None:
        delay = max(delay, float(exc.retry_after))
    if age + delay > limits.max_age:
        return GiveUp("age")
    return RetryAt(delay)
