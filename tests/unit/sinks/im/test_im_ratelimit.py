"""The per-destination limiter: exact windows, FIFO queueing, bounded waits."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.sinks.http.ratelimit import RateLimiter, Window, limiter_for
from processor.sinks.im.clock import ManualClock


async def test_twenty_per_minute_then_the_21st_waits_for_the_window() -> None:
    clock = ManualClock()
    limiter = RateLimiter([Window(20, 60.0)], clock=clock)
    for _ in range(20):
        assert await limiter.acquire() == 0.0
    assert clock.sleeps == []
    assert clock.monotonic() == 0.0
    await limiter.acquire()
    assert clock.sleeps == [60.0]
    assert clock.monotonic() == 60.0


async def test_sliding_window_counts_sends_not_calendar_minutes() -> None:
    clock = ManualClock()
    limiter = RateLimiter([Window(2, 10.0)], clock=clock)
    await limiter.acquire()  # t=0
    clock.advance(9)
    await limiter.acquire()  # t=9
    await limiter.acquire()  # waits until the t=0 send leaves the window: t=10
    assert clock.monotonic() == 10.0
    await limiter.acquire()  # next free slot: when t=9 leaves, t=19
    assert clock.monotonic() == 19.0


async def test_all_windows_must_have_room() -> None:
    clock = ManualClock()
    limiter = RateLimiter([Window(100, 60.0), Window(5, 1.0)], clock=clock)
    for _ in range(12):
        await limiter.acquire()
    # 5 per second: sends 0-4 at t=0, 5-9 at t=1, 10-11 at t=2.
    assert clock.monotonic() == 2.0


async def test_max_wait_hands_back_the_wait_without_taking_a_slot() -> None:
    clock = ManualClock()
    limiter = RateLimiter([Window(1, 60.0)], clock=clock)
    await limiter.acquire()
    assert await limiter.acquire(max_wait=5.0) == 60.0
    assert clock.sleeps == []
    clock.advance(60)
    assert await limiter.acquire(max_wait=5.0) == 0.0


async def test_block_for_pauses_the_destination() -> None:
    clock = ManualClock()
    limiter = RateLimiter([Window(20, 60.0)], clock=clock)
    limiter.block_for(600)
    assert limiter.delay() == 600.0
    await limiter.acquire()
    assert clock.monotonic() == 600.0


async def test_waiters_queue_in_order_and_none_is_dropped() -> None:
    clock = ManualClock(auto_advance=False)
    limiter = RateLimiter([Window(1, 1.0)], clock=clock)
    order: list[int] = []

    async def send(i: int) -> None:
        await limiter.acquire()
        order.append(i)

    tasks = [asyncio.create_task(send(i)) for i in range(4)]
    await asyncio.sleep(0)
    assert order == [0]
    for expected in ([0, 1], [0, 1, 2], [0, 1, 2, 3]):
        clock.advance(1.0)
        for _ in range(5):
            await asyncio.sleep(0)
        assert order == expected
    await asyncio.gather(*tasks)


def test_limiters_are_shared_per_destination() -> None:
    clock = ManualClock()
    a = limiter_for("https://x/robot?token=a", [Window(20, 60.0)], clock)
    assert limiter_for("https://x/robot?token=a", [Window(20, 60.0)], clock) is a
    assert limiter_for("https://x/robot?token=b", [Window(20, 60.0)], clock) is not a


def test_invalid_windows_are_rejected() -> None:
    with pytest.raises(ValueError):
        Window(0, 60.0)
    with pytest.raises(ValueError):
        RateLimiter([])


def _max_in_window(stamps: list[float], period: float) -> int:
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= period - 1e-9:  # float noise at the window edge
            start += 1
        best = max(best, end - start + 1)
    return best


@settings(max_examples=100, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0, max_value=30), min_size=1, max_size=60),
    limit=st.integers(min_value=1, max_value=6),
    period=st.sampled_from([1.0, 10.0, 60.0]),
)
def test_no_window_ever_exceeds_its_limit_and_no_wait_is_wasted(
    gaps: list[float], limit: int, period: float
) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        limiter = RateLimiter([Window(limit, period)], clock=clock)
        sent: list[float] = []
        for gap in gaps:
            clock.advance(gap)
            before = clock.monotonic()
            await limiter.acquire()
            sent.append(clock.monotonic())
            # Waiting happened only when the window was full at the arrival time.
            if sent[-1] > before:
                recent = [t for t in sent[:-1] if t > before - period]
                assert len(recent) >= limit
        assert _max_in_window(sent, period) <= limit

    asyncio.run(scenario())


async def test_margin_keeps_sends_off_the_window_edge() -> None:
    clock = ManualClock()
    limiter = RateLimiter([Window(1, 60.0)], clock=clock, margin=0.05)
    await limiter.acquire()
    await limiter.acquire()
    assert clock.sleeps == [pytest.approx(60.05)]


async def test_concurrent_callers_get_consecutive_slots_within_their_max_wait() -> None:
    clock = ManualClock(auto_advance=False)
    limiter = RateLimiter([Window(1, 10.0)], clock=clock)
    assert await limiter.acquire() == 0.0  # slot at t=0
    first = asyncio.create_task(limiter.acquire(max_wait=15))  # reserves t=10
    await asyncio.sleep(0)
    # A second caller must not queue behind the first one's sleep: its slot (t=20) is
    # beyond its max_wait, and it learns so at once.
    assert await limiter.acquire(max_wait=15) == 20.0
    third = asyncio.create_task(limiter.acquire(max_wait=25))  # reserves t=20
    await asyncio.sleep(0)
    clock.advance(10)
    assert await first == 0.0 and not third.done()
    clock.advance(10)
    assert await third == 0.0


async def test_a_throttle_during_the_wait_is_reported_not_ignored() -> None:
    clock = ManualClock(auto_advance=False)
    limiter = RateLimiter([Window(1, 10.0)], clock=clock)
    await limiter.acquire()
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    limiter.block_for(600)
    clock.advance(10)
    assert await waiting == pytest.approx(590.0)
