"""Manual clock semantics and the tick event shape."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from processor.clock import ManualClock, SystemClock
from processor.events import decode, encode
from processor.sources.schedule import tick_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def test_manual_clock_wakes_sleepers_only_when_advanced_far_enough() -> None:
    clock = ManualClock(T0, auto_advance=False)
    never = asyncio.Event()
    sleeper = asyncio.create_task(clock.sleep_until(T0 + timedelta(minutes=2), never))
    clock.advance(timedelta(minutes=1))
    await asyncio.sleep(0.15)
    assert not sleeper.done()
    clock.advance(timedelta(minutes=1))
    await asyncio.wait_for(sleeper, 1)
    assert clock.now() == T0 + timedelta(minutes=2)


async def test_sleeps_end_early_on_interrupt() -> None:
    interrupt = asyncio.Event()
    for clock in (ManualClock(T0, auto_advance=False), SystemClock()):
        interrupt.clear()
        sleeper = asyncio.create_task(
            clock.sleep_until(clock.now() + timedelta(hours=1), interrupt)
        )
        await asyncio.sleep(0.05)
        interrupt.set()
        await asyncio.wait_for(sleeper, 1)


async def test_manual_clock_never_goes_back() -> None:
    clock = ManualClock(T0, auto_advance=False)
    clock.set(T0 - timedelta(days=1))
    assert clock.now() == T0


async def test_one_manual_clock_for_sinks_and_sources() -> None:
    """The wall clock (``now``) and the monotonic one move together; sleeps jump ahead."""
    clock = ManualClock(T0)  # auto_advance: waiting code runs at once yet sees time pass
    await clock.sleep(30)
    assert (clock.monotonic(), clock.time()) == (30.0, T0.timestamp() + 30)
    await clock.sleep_until(T0 + timedelta(minutes=5), asyncio.Event())
    assert clock.now() == T0 + timedelta(minutes=5) and clock.monotonic() == 300.0
    clock.advance(1.5)
    assert clock.now() == T0 + timedelta(minutes=5, seconds=1.5)


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
