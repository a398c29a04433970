"""MultiSink restarts a failing target's worker with a doubling delay (others never wait) and
sizes the thread pool for its targets' polls."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from processor.sinks.multi import MAX_RETRY_DELAY, MultiSink, TargetSelection, retry_delay


@dataclass(frozen=True)
class T:
    name: str
    kind: str = "webhook"


@dataclass
class Config:
    targets: tuple[T, ...]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_retry_delay_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n) for n in range(1, 6)] == [0.0, 2.0, 4.0, 8.0, 16.0]
    assert retry_delay(50) == MAX_RETRY_DELAY


async def test_a_worker_that_keeps_failing_backs_off_while_the_other_runs() -> None:
    started: list[str] = []

    async def start_worker(name: str, stop: asyncio.Event) -> None:
        started.append(name)
        if name == "broken":
            raise RuntimeError("consumer configuration rejected")
        await stop.wait()

    clock = Clock()
    config = Config((T("broken"), T("fine")))
    multi = MultiSink(TargetSelection.of(every=True), lambda: config, start_worker, clock=clock)

    async def check(seconds: float) -> None:
        clock.now += seconds
        await multi.reconcile()
        await asyncio.sleep(0)  # let a started task run (and fail)

    await check(0)
    fine = multi.running["fine"].task
    await check(1)  # first failure seen: started again at once
    assert started.count("broken") == 2
    await check(1)  # second failure seen at t+2: not before t+4
    await check(1.5)
    assert started.count("broken") == 2
    await check(1)  # t+4.5
    assert started.count("broken") == 3
    await check(1)  # third failure seen at t+5.5: not before t+9.5
    await check(3)
    assert started.count("broken") == 3
    await check(1.5)  # t+10
    assert started.count("broken") == 4
    assert multi.failures["broken"] == 3 and "fine" not in multi.failures
    assert multi.running["fine"].task is fine and not fine.done()
    assert started.count("fine") == 1

    config = Config((T("fine"),))  # removed from the configuration: its failures forgotten
    await check(1)
    assert "broken" not in multi.failures and "broken" not in multi.not_before
    await multi._stop(list(multi.running))


async def test_a_target_whose_topics_cannot_be_made_is_retried_with_backoff() -> None:
    attempts: list[str] = []

    def prepare(name: str) -> None:
        attempts.append(name)
        raise OSError("broker refused CreateTopics")

    async def start_worker(name: str, stop: asyncio.Event) -> None:
        await stop.wait()

    clock = Clock()
    config = Config((T("a"),))
    multi = MultiSink(
        TargetSelection.of(every=True), lambda: config, start_worker, prepare=prepare, clock=clock
    )
    for _ in range(6):  # one check a second for 6 s: tries at 0, 1, 3 (then waits until 7)
        await multi.reconcile()
        clock.now += 1
    assert len(attempts) == 3
    assert multi.running == {}


async def test_the_thread_pool_grows_with_the_selection() -> None:
    async def start_worker(name: str, stop: asyncio.Event) -> None:
        await stop.wait()

    config = Config(tuple(T(f"t{i}") for i in range(10)))
    multi = MultiSink(TargetSelection.of(every=True), lambda: config, start_worker)
    await multi.reconcile()
    assert multi.pool_size == 64  # the floor
    first = multi.pool
    config = Config(tuple(T(f"t{i}") for i in range(100)))
    await multi.reconcile()
    assert multi.pool_size == 3 * 100 + 16 and multi.pool is not first
    # 100 targets' polls parked at once still leave threads for another call
    release = threading.Event()
    parked = [asyncio.ensure_future(asyncio.to_thread(release.wait, 5)) for _ in range(100)]
    await asyncio.sleep(0.05)
    try:
        assert await asyncio.wait_for(asyncio.to_thread(lambda: True), 1)
    finally:
        release.set()
        await asyncio.gather(*parked)
    await multi._stop(list(multi.running))
