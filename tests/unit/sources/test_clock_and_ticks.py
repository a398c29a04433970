"""Manual clock semantics and the tick event shape."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from processor.events import decode, encode
from processor.sources.clock import ManualClock, SystemClock
from processor.sources.schedule import tick_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def test_manual_clock_wakes_sleepers_only_when_advanced_far_enough() -> None:
    clock = ManualClock(T0)
    never = asyncio.Event()
    sleeper = asyncio.create_task(clock.sleep_until(T0 + timedelta(minutes=2), never))
    await clock.advance(timedelta(minutes=1))
    await asyncio.sleep(0.15)
    assert not sleeper.done()
    await clock.advance(timedelta(minutes=1))
    await asyncio.wait_for(sleeper, 1)
    assert clock.now() == T0 + timedelta(minutes=2)


async def test_sleeps_end_early_on_interrupt() -> None:
    interrupt = asyncio.Event()
    for clock in (ManualClock(T0), SystemClock()):
        interrupt.clear()
        sleeper = asyncio.create_task(
            clock.sleep_until(clock.now() + timedelta(hours=1), interrupt)
        )
        await asyncio.sleep(0.05)
        interrupt.set()
        await asyncio.wait_for(sleeper, 1)


async def test_manual_clock_never_goes_back() -> None:
    clock = ManualClock(T0)
    await clock.set(T0 - timedelta(days=1))
    assert clock.now() == T0


def test_tick_event_is_a_scheduled_event_with_a_deterministic_id() -> None:
    tick = T0 + timedelta(minutes=5)
    event = tick_event("nightly", tick, {"job": "report"})
    assert event.id == tick_event("nightly", tick, {"job": "report"}).id
    assert event.id != tick_event("nightly", tick + timedelta(minutes=1), {}).id
    assert event.id != tick_event("hourly", tick, {}).id
    record = encode(event, "binary")
    back = decode(record.value, record.headers)
    assert (back.type, back.source, back.subject) == (
        "Scheduled Event",
        "kbridge.schedule",
        "nightly",
    )
    assert datetime.fromisoformat(back.time or "") == tick
    assert back.data == {"job": "report"}
    assert record.key == b"nightly"
