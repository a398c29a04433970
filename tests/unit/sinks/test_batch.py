"""run_batch: per-item retries, dead letters with the right condition, waits via the caller."""

from __future__ import annotations

import logging
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.errors import BackpressureError, FatalError, RetriableError
from processor.sinks.base import Delivery
from processor.sinks.batch import OUTAGE_BACKOFF, event_origin, run_batch
from processor.sinks.deadletter import error_code
from processor.sinks.outage import DestinationHealth, unreachable
from processor.sinks.retry import Backoff, RetryLimits
from processor.sinks.testing import ListSink


class FakeClock:
    """A clock that only moves when the batch waits, so tests never sleep."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def _items(n: int, ingested_at: float | None = None) -> list[Delivery]:
    headers = {"ce_id": "", "kbridge-rule": "r1"}
    out = []
    for i in range(n):
        h = dict(headers, ce_id=f"e{i}")
        if ingested_at is not None:
            h["kbridge-ingested-at"] = str(ingested_at)
        out.append(Delivery(value=b"{}", headers=h, topic="t", partition=0, offset=i))
    return out


async def _run(sink: ListSink, items: list[Delivery], clock: FakeClock, **limits: float):  # type: ignore[no-untyped-def]
    return await run_batch(
        sink,
        items,
        limits_for=lambda _d: RetryLimits(**limits),  # type: ignore[arg-type]
        wait=clock.wait,
        backoff=Backoff(base=1.0, cap=8.0),
        clock=clock,
        rng=random.Random(3),
    )


async def test_all_delivered_without_waiting() -> None:
    clock = FakeClock()
    sink = ListSink()
    result = await _run(sink, _items(5), clock)
    assert result.delivered == 5 and result.dead_letters == [] and clock.waits == []
    assert [d.event_id for d in sink.delivered] == ["e0", "e1", "e2", "e3", "e4"]


async def test_flaky_items_retry_alone_and_neighbours_are_not_redelivered() -> None:
    clock = FakeClock()
    sink = ListSink(lambda d, n: RetriableError("500") if d.offset % 2 and n < 3 else None)
    result = await _run(sink, _items(6), clock)
    assert result.delivered == 6 and not result.dead_letters
    assert sorted(d.offset for d in sink.delivered) == list(range(6))
    assert sink.attempts[("t", 0, 0)] == 1
    assert sink.attempts[("t", 0, 1)] == 3
    assert len(clock.waits) >= 1


async def test_non_retriable_goes_to_dead_letters_at_once() -> None:
    clock = FakeClock()
    sink = ListSink(lambda d, n: FatalError("400 bad", code="http-400") if d.offset == 2 else None)
    result = await _run(sink, _items(4), clock)
    assert result.delivered == 3
    [dead] = result.dead_letters
    assert (dead.delivery.offset, dead.condition, dead.attempts) == (2, "non-retriable", 1)
    assert clock.waits == []


async def test_attempts_exhausted() -> None:
    clock = FakeClock()
    sink = ListSink(lambda d, n: RetriableError("down"))
    result = await _run(sink, _items(2), clock, max_attempts=4)
    assert [(d.condition, d.attempts) for d in result.dead_letters] == [("attempts", 5)] * 2
    assert sink.attempts[("t", 0, 0)] == 5


async def test_age_exhausted_measured_from_ingestion() -> None:
    clock = FakeClock()
    sink = ListSink(lambda d, n: BackpressureError("429", retry_after=30.0))
    result = await _run(sink, _items(1, ingested_at=clock.now - 50.0), clock, max_age=60.0)
    [dead] = result.dead_letters
    assert (dead.condition, dead.attempts) == ("age", 1)


async def test_retry_after_is_waited() -> None:
    clock = FakeClock()
    sink = ListSink(lambda d, n: BackpressureError("429", retry_after=7.5) if n == 1 else None)
    result = await _run(sink, _items(1), clock)
    assert result.delivered == 1 and clock.waits and clock.waits[0] >= 7.5


async def test_sink_raising_fails_every_item() -> None:
    class Broken(ListSink):
        async def deliver(self, batch):  # type: ignore[no-untyped-def]
            raise FatalError("auth failure")

    result = await _run(Broken(), _items(3), FakeClock())
    assert [d.condition for d in result.dead_letters] == ["non-retriable"] * 3


async def test_sink_breaking_the_contract_is_dead_lettered() -> None:
    class Short(ListSink):
        async def deliver(self, batch):  # type: ignore[no-untyped-def]
            return []

    result = await _run(Short(), _items(2), FakeClock())
    assert {d.error.code for d in result.dead_letters} == {"sink-contract"}  # type: ignore[attr-defined]


async def test_chunks_respect_max_batch_size() -> None:
    sink = ListSink(max_batch_size=3)
    result = await _run(sink, _items(10), FakeClock())
    assert result.delivered == 10 and sink.calls == 4


def test_event_origin_formats() -> None:
    base = Delivery(value=b"", headers={}, timestamp=123.0)
    assert event_origin(base, 9.0) == 123.0
    assert event_origin(Delivery(value=b"", headers={}), 9.0) == 9.0
    ms = Delivery(value=b"", headers={"kbridge-ingested-at": "1700000000000"})
    assert event_origin(ms, 0) == 1_700_000_000.0
    iso = Delivery(value=b"", headers={"kbridge-ingested-at": "2023-11-14T22:13:20Z"})
    assert event_origin(iso, 0) == 1_700_000_000.0


@given(
    st.lists(
        st.lists(st.sampled_from(["ok", "retry", "fatal", "429"]), min_size=1, max_size=6),
        min_size=1,
        max_size=25,
    ),
    st.integers(min_value=0, max_value=4),
)
@settings(max_examples=150, deadline=None)
def test_every_item_ends_delivered_or_dead_lettered_exactly_once(
    scripts: list[list[str]], max_attempts: int
) -> None:
    """Whatever each attempt returns, nothing is lost, duplicated or over-retried."""
    import asyncio

    def fail(d: Delivery, attempt: int) -> BaseException | None:
        script = scripts[d.offset]
        step = script[min(attempt, len(script)) - 1]
        return {
            "ok": None,
            "retry": RetriableError("500"),
            "fatal": FatalError("400"),
            "429": BackpressureError("429", retry_after=0.5),
        }[step]

    sink = ListSink(fail, max_batch_size=4)
    clock = FakeClock()
    result = asyncio.run(_run(sink, _items(len(scripts)), clock, max_attempts=max_attempts))
    delivered = [d.offset for d in sink.delivered]
    dead = [d.delivery.offset for d in result.dead_letters]
    assert sorted(delivered + dead) == list(range(len(scripts)))
    assert result.delivered == len(delivered)
    for letter in result.dead_letters:
        assert letter.attempts <= max_attempts + 1
        assert letter.attempts == sink.attempts[("t", 0, letter.delivery.offset)]


# ---- a destination that is down as a whole (issue 21 item 5) -------------------------------


class DownUntil:
    """Every item fails with ``code`` until the clock reaches ``until``."""

    def __init__(self, clock: FakeClock, until: float, code: str = "db-unavailable") -> None:
        self.clock = clock
        self.until = until
        self.code = code

    def __call__(self, d: Delivery, attempt: int) -> BaseException | None:
        if self.clock.now < self.until:
            return RetriableError('(2003, "Can\'t connect to MySQL server")', code=self.code)
        return None


async def test_an_unreachable_destination_holds_the_batch_and_resumes_within_the_cap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="processor.sinks")
    clock = FakeClock()
    recovery = clock.now + 62.0  # the chaos run's MariaDB outage
    sink = ListSink(DownUntil(clock, recovery), max_batch_size=10)
    health = DestinationHealth("db", clock=clock)
    result = await run_batch(
        sink,
        _items(50),
        limits_for=lambda _d: RetryLimits(max_attempts=3),
        wait=clock.wait,
        backoff=Backoff(base=1.0, cap=600.0),
        clock=clock,
        rng=random.Random(3),
        health=health,
    )
    assert result.delivered == 50 and result.dead_letters == []  # max_attempts=3 not spent
    assert clock.now - recovery <= OUTAGE_BACKOFF.cap  # resumed within 2 s of the recovery
    assert max(clock.waits) <= OUTAGE_BACKOFF.cap
    # one probe (the first chunk) per wait while down, not five chunks of ten
    assert sink.calls <= len(clock.waits) + 5
    assert not health.is_down
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(messages) == 2, messages  # down once, back once
    assert "unreachable" in messages[0] and "reachable again after" in messages[1]


async def test_events_older_than_max_age_leave_an_outage_as_dead_letters() -> None:
    clock = FakeClock()
    sink = ListSink(DownUntil(clock, clock.now + 3600), max_batch_size=10)
    result = await run_batch(
        sink,
        _items(3, ingested_at=clock.now),
        limits_for=lambda _d: RetryLimits(max_age=60.0),
        wait=clock.wait,
        clock=clock,
        rng=random.Random(3),
        health=DestinationHealth("db", clock=clock),
    )
    assert result.delivered == 0 and len(result.dead_letters) == 3
    letter = result.dead_letters[0]
    assert letter.condition == "age" and error_code(letter.error) == "db-unavailable"
    assert letter.attempts > 1  # every try counts in the dead letter's header
    assert clock.now - 1_000_000.0 <= 60.0


async def test_partial_failures_are_not_an_outage() -> None:
    clock = FakeClock()
    sink = ListSink(
        lambda d, n: (
            RetriableError("refused", code="connection") if d.offset % 2 and n == 1 else None
        )
    )
    health = DestinationHealth("hook", clock=clock)
    result = await run_batch(
        sink,
        _items(4),
        limits_for=lambda _d: RetryLimits(),
        wait=clock.wait,
        backoff=Backoff(base=1.0, cap=8.0),
        clock=clock,
        rng=random.Random(3),
        health=health,
    )
    assert result.delivered == 4 and result.attempts == 3  # each failed one again, alone
    assert not health.is_down and health.probes == 0
    assert result.failures == {"connection": 2}


def test_unreachable_needs_every_outcome_to_say_so() -> None:
    down = RetriableError("refused", code="connection")
    assert unreachable([down, down]) is down
    assert unreachable([down, None]) is None
    assert unreachable([down, RetriableError("HTTP 500", code="http-500")]) is None
    assert unreachable([BackpressureError("429", code="http-429")]) is None
    assert unreachable([]) is None
