"""The retry schedule: AWS limits, full jitter, Retry-After, non-retriable errors."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.errors import BackpressureError, FatalError, RetriableError
from processor.sinks.retry import Backoff, GiveUp, RetryAt, RetryLimits, decide


def _decide(exc: BaseException, attempts: int, age: float = 0.0, **limits: float) -> object:
    return decide(
        exc,
        attempts=attempts,
        age=age,
        limits=RetryLimits(**limits),  # type: ignore[arg-type]
        backoff=Backoff(base=1.0, cap=60.0),
        rng=random.Random(7),
    )


def test_non_retriable_gives_up_on_first_failure() -> None:
    assert _decide(FatalError("bad payload"), 1) == GiveUp("non-retriable")


def test_unknown_exceptions_are_retried() -> None:
    assert isinstance(_decide(ConnectionError("reset"), 1), RetryAt)


def test_max_attempts_counts_retries_after_the_first_attempt() -> None:
    assert isinstance(_decide(RetriableError("x"), 3, max_attempts=3), RetryAt)
    assert _decide(RetriableError("x"), 4, max_attempts=3) == GiveUp("attempts")
    assert _decide(RetriableError("x"), 1, max_attempts=0) == GiveUp("attempts")


def test_age_limit_includes_the_next_wait() -> None:
    exc = BackpressureError("slow down", retry_after=30.0)
    assert isinstance(_decide(exc, 1, age=20.0, max_age=60.0), RetryAt)
    assert _decide(exc, 1, age=40.0, max_age=60.0) == GiveUp("age")


def test_retry_after_is_a_floor_under_the_jittered_delay() -> None:
    step = _decide(BackpressureError("429", retry_after=5.0), 1)
    assert isinstance(step, RetryAt) and step.delay >= 5.0


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=0, max_value=2**32))
def test_full_jitter_stays_within_the_capped_exponential(retry: int, seed: int) -> None:
    backoff = Backoff(base=0.5, cap=30.0)
    delay = backoff.delay(retry, random.Random(seed))
    assert 0.0 <= delay <= min(30.0, 0.5 * 2 ** (retry - 1))


def test_jitter_spreads_delays() -> None:
    rng = random.Random(1)
    delays = {round(Backoff(base=1.0, cap=100.0).delay(5, rng), 6) for _ in range(50)}
    assert len(delays) > 40


def test_limits_from_config_policy() -> None:
    from processor.config.rules import RetryPolicy

    limits = RetryLimits.from_policy(RetryPolicy(max_attempts=3, max_age="2m"))
    assert limits == RetryLimits(max_attempts=3, max_age=120.0)
    assert RetryLimits.from_policy(None) == RetryLimits(185, 86400.0)


@pytest.mark.parametrize("attempts", [0, 185])
def test_limits_accept_the_aws_range(attempts: int) -> None:
    assert RetryLimits(max_attempts=attempts).max_attempts == attempts


# The one backoff (processor/backoff.py) as the sources and the config store use it.


@given(st.integers(min_value=1, max_value=500), st.integers(min_value=0, max_value=2**32))
def test_equal_jitter_keeps_at_least_half_the_ceiling(retry: int, seed: int) -> None:
    from processor.backoff import Backoff as Policy

    policy = Policy(base=0.2, cap=30.0, jitter=0.5)
    ceiling = min(30.0, 0.2 * 2 ** min(retry - 1, 62))
    assert policy.ceiling(retry) == ceiling
    assert ceiling / 2 <= policy.delay(retry, random.Random(seed)) <= ceiling


def test_no_jitter_is_the_plain_capped_doubling() -> None:
    from processor.backoff import Backoff as Policy
    from processor.backoff import BackoffCounter

    counter = BackoffCounter(Policy(base=0.5, cap=10.0, jitter=0.0))
    assert [counter.next_delay() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    counter.reset()
    assert counter.next_delay() == 0.5


def test_huge_retry_numbers_and_factors_stay_at_the_cap() -> None:
    from processor.backoff import Backoff as Policy

    assert Policy(base=1.0, cap=7.0, factor=1e300, jitter=0.0).ceiling(10**6) == 7.0


@pytest.mark.parametrize(
    "kwargs", [{"base": -1.0}, {"cap": -1.0}, {"factor": 0.5}, {"jitter": 1.5}, {"jitter": -0.1}]
)
def test_invalid_backoff_settings_are_refused(kwargs: dict[str, float]) -> None:
    from processor.backoff import Backoff as Policy

    with pytest.raises(ValueError, match="invalid backoff"):
        Policy(**kwargs)
