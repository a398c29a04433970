"""The target's sink lease: setup retried (capped, logged once), live swaps, closing retired
sinks only after their last batch. No broker needed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest

from processor.errors import RetriableError
from processor.sinks.base import SinkContext
from processor.sinks.leases import SETUP_BACKOFF, SinkLeases
from processor.sinks.testing import ListSink


@dataclass(frozen=True)
class Target:
    name: str = "t"
    kind: str = "list"
    label: str = "v1"


class View:
    def __init__(self) -> None:
        self.current: Target | None = Target()

    def target(self, name: str) -> Any:
        return self.current

    def connection(self, name: str) -> Any:
        return None

    def rule(self, name: str) -> Any:
        return None


class FlakySetup(ListSink):
    failures_left = 0

    async def setup(self) -> None:
        if FlakySetup.failures_left > 0:
            FlakySetup.failures_left -= 1
            raise RetriableError('(2003, "Can\'t connect to MySQL server")', code="db-unavailable")


async def test_setup_is_retried_with_a_capped_backoff_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="processor.sinks.leases")
    FlakySetup.failures_left = 8
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    leases = SinkLeases("t", snapshot=View, builder=lambda t, c: FlakySetup(), sleep=sleep)
    lease, target = await leases.acquire()
    assert isinstance(lease.sink, FlakySetup) and target == Target()
    assert len(slept) == 8 and max(slept) == SETUP_BACKOFF.cap == 5.0
    loud = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.levelname for r in loud] == ["ERROR", "INFO"]
    assert "set up after 8 failed attempts" in loud[1].getMessage()


async def test_a_config_change_swaps_the_sink_and_closes_the_old_one_after_its_last_batch() -> None:
    view = View()
    built: list[ListSink] = []

    def build(target: Any, context: SinkContext) -> ListSink:
        built.append(ListSink())
        return built[-1]

    leases = SinkLeases("t", snapshot=lambda: view, builder=build)
    first, _ = await leases.acquire()  # a batch is using the v1 sink
    view.current = Target(label="v2")
    second, target = await leases.acquire()
    assert target.label == "v2" and second.sink is built[1]
    assert not built[0].closed  # still in use by the first batch
    await leases.release(first)
    assert built[0].closed and not built[1].closed
    await leases.release(second)
    await leases.close()
    assert built[1].closed
