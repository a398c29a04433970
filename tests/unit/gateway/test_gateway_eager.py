"""processor/gateway/eager.py: a request's coroutine run without an asyncio Task."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

import pytest

from processor.gateway.eager import run_eagerly

seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")


def test_runs_at_once_up_to_the_first_suspension_then_resumes_from_the_future() -> None:
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[int] = loop.create_future()
        steps: list[str] = []
        running: set[Any] = set()

        async def request() -> None:
            steps.append("produced")
            steps.append(f"acked {await acked}")

        run_eagerly(request(), loop, running)
        assert steps == ["produced"]  # before any loop iteration
        assert len(running) == 1  # suspended: a graceful shutdown waits for it
        acked.set_result(7)
        await asyncio.sleep(0)
        assert not running
        return steps

    assert asyncio.run(scenario()) == ["produced", "acked 7"]


def test_a_coroutine_that_never_suspends_is_done_and_not_kept() -> None:
    async def scenario() -> None:
        running: set[Any] = set()
        done: list[bool] = []

        async def request() -> None:
            done.append(True)

        run_eagerly(request(), asyncio.get_running_loop(), running)
        assert done == [True] and not running

    asyncio.run(scenario())


def test_each_run_has_its_own_context_across_suspensions() -> None:
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        gates = [loop.create_future(), loop.create_future()]
        values: list[str] = []
        running: set[Any] = set()

        async def request(name: str, gate: asyncio.Future[None]) -> None:
            seen.set(name)
            await gate
            await asyncio.sleep(0)  # a bare yield resumes in the same context
            values.append(seen.get())

        run_eagerly(request("a", gates[0]), loop, running)
        run_eagerly(request("b", gates[1]), loop, running)
        assert seen.get() == "unset"  # nothing leaked into the caller's context
        gates[1].set_result(None)
        gates[0].set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)
        assert not running
        return values

    assert asyncio.run(scenario()) == ["b", "a"]


def test_an_exception_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> set[Any]:
        loop = asyncio.get_running_loop()
        gate: asyncio.Future[None] = loop.create_future()
        running: set[Any] = set()

        async def request() -> None:
            await gate
            raise ValueError("broken answer")

        run_eagerly(request(), loop, running)
        gate.set_result(None)
        await asyncio.sleep(0)
        return running

    with caplog.at_level(logging.ERROR, logger="processor.gateway.eager"):
        assert asyncio.run(scenario()) == set()
    assert "broken answer" in caplog.text


def test_cancel_resumes_the_coroutine_with_cancelled_error() -> None:
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        gate: asyncio.Future[None] = loop.create_future()
        running: set[Any] = set()
        outcome: list[str] = []

        async def request() -> None:
            try:
                await gate
            except asyncio.CancelledError:
                outcome.append("cancelled")
                raise

        run_eagerly(request(), loop, running)
        (run,) = running
        assert run.cancel("graceful shutdown timed out")  # as uvicorn's shutdown calls it
        await asyncio.sleep(0)
        assert not running
        return outcome

    assert asyncio.run(scenario()) == ["cancelled"]
