"""Source contract: ordered acks, dead letters, reconnects with backoff, clean stop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import BaseModel

from processor.errors import FatalError, RetriableError
from processor.events import CloudEvent, decode
from processor.sources.base import AckWindow, Backoff, Source


class ListPublisher:
    """In-memory publisher: records every send, optionally delays or fails some."""

    def __init__(self, delays: dict[bytes, float] | None = None, fail: set[bytes] | None = None):
        self.sent: list[tuple[str, bytes | None, bytes | None, list[Any]]] = []
        self.delays = delays or {}
        self.fail = fail or set()

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes | str | None]] | None = None,
    ) -> tuple[int, int]:
        await asyncio.sleep(self.delays.get(value or b"", 0))
        if value in self.fail:
            raise RetriableError("broker down")
        self.sent.append((topic, key, value, list(headers or [])))
        return (0, len(self.sent) - 1)


class Config(BaseModel):
    name: str = "test-source"
    bus: str = "iot"


class ScriptedSource(Source):
    """A source whose sessions follow a script: fail n times, then forward inputs."""

    kind = "scripted"

    def __init__(self, publisher: ListPublisher, failures: int, inputs: list[bytes]) -> None:
        super().__init__(Config(), publisher, backoff=Backoff(initial=0.01, maximum=0.05))
        self.failures = failures
        self.inputs = inputs
        self.sessions = 0

    async def session(self) -> None:
        self.sessions += 1
        if self.sessions <= self.failures:
            raise ConnectionError("refused")
        for raw in self.inputs:
            await self.forward(lambda raw=raw: self.build(raw), raw)
        await self.stopping.wait()

    def build(self, raw: bytes) -> CloudEvent:
        if raw.startswith(b"!"):
            raise FatalError("cannot parse", code="bad-input")
        return CloudEvent(id=raw.decode(), source="test", type="t", subject="s", data={"v": 1})


async def test_acks_follow_arrival_order_even_when_publishes_finish_out_of_order() -> None:
    publisher = ListPublisher(delays={b"0": 0.05, b"1": 0.0, b"2": 0.02})
    window = AckWindow(limit=10)
    acked: list[int] = []
    for i in range(3):
        await window.submit(
            publisher.send("t", str(i).encode()),
            lambda i=i: acked.append(i),  # type: ignore[misc]
        )
    await window.drain()
    assert acked == [0, 1, 2]
    assert [v for _, _, v, _ in publisher.sent] == [b"1", b"2", b"0"]


async def test_a_failed_publish_blocks_its_ack_and_every_later_one() -> None:
    publisher = ListPublisher(fail={b"1"})
    window = AckWindow(limit=10)
    acked: list[int] = []
    for i in range(3):
        await window.submit(
            publisher.send("t", str(i).encode()),
            lambda i=i: acked.append(i),  # type: ignore[misc]
        )
    with pytest.raises(RetriableError):
        await window.drain()
    assert acked == [0]
    with pytest.raises(RetriableError):
        await window.submit(publisher.send("t", b"3"), lambda: None)


async def test_window_limits_publishes_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def publish() -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1

    window = AckWindow(limit=3)
    for _ in range(10):
        await window.submit(publish(), lambda: None)
    await window.drain()
    assert peak == 3


async def test_reconnects_with_backoff_then_publishes_and_dead_letters() -> None:
    publisher = ListPublisher()
    source = ScriptedSource(publisher, failures=2, inputs=[b"a", b"!broken", b"b"])
    task = asyncio.create_task(source.run())
    for _ in range(200):
        if len(publisher.sent) == 3:
            break
        await asyncio.sleep(0.01)
    await source.stop()
    await asyncio.wait_for(task, 5)
    assert source.sessions == 3
    topics = [topic for topic, _, _, _ in publisher.sent]
    assert topics == ["kbridge.bus.iot", "kbridge.bus.iot.dlq", "kbridge.bus.iot"]
    good = decode(publisher.sent[0][2], publisher.sent[0][3])
    assert (good.id, good.data) == ("a", {"v": 1})
    assert publisher.sent[0][1] == b"s"
    dead_headers = dict(publisher.sent[1][3])
    assert dead_headers["kbridge-error-code"] == b"bad-input"
    assert dead_headers["kbridge-error-message"] == b"cannot parse"
    assert dead_headers["kbridge-failed-stage"] == b"decode"
    assert dead_headers["kbridge-source"] == b"test-source"
    # docs/connectors.md promises kbridge-bus on every bus dead letter, sources included
    assert dead_headers["kbridge-bus"] == b"iot"
    assert publisher.sent[1][2] == b"!broken"
    assert (source.published, source.dead_lettered) == (2, 1)


async def test_fatal_errors_end_the_run() -> None:
    class Broken(ScriptedSource):
        async def session(self) -> None:
            raise FatalError("bad credentials")

    source = Broken(ListPublisher(), failures=0, inputs=[])
    with pytest.raises(FatalError, match="bad credentials"):
        await asyncio.wait_for(source.run(), 5)


def test_backoff_grows_caps_and_resets() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0)
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.next_delay() <= 1.0


async def test_a_failed_publish_ends_the_session_even_when_no_more_messages_come() -> None:
    publisher = ListPublisher(fail={b"b"})
    acked: list[bytes] = []
    nacked: list[bytes] = []

    class Idle(ScriptedSource):
        async def session(self) -> None:
            self.sessions += 1
            window = AckWindow(limit=10)

            async def consume() -> None:
                for raw in (b"a", b"b", b"c"):
                    await window.submit(
                        self.publisher.send(self.topic, raw),
                        lambda raw=raw: acked.append(raw),  # type: ignore[misc]
                        lambda raw=raw: nacked.append(raw),  # type: ignore[misc]
                    )
                await asyncio.Event().wait()  # the broker has nothing more to say

            await self.pump(consume(), window)

    source = Idle(publisher, failures=0, inputs=[])
    with pytest.raises(RetriableError, match="broker down"):
        await asyncio.wait_for(source.session(), 2)
    assert acked == [b"a"]
    assert nacked == [b"b", b"c"]
