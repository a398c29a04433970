"""Digest windows: one message per window, one shared outcome, nothing acked early."""

from __future__ import annotations

import asyncio

from processor.errors import RetriableError
from processor.sinks.base import Delivery
from processor.sinks.im.clock import ManualClock
from processor.sinks.im.digest import MARKDOWN, DigestWindow, delivery_text, render_digest


def event(i: int, kind: str = "alarm.critical") -> Delivery:
    return Delivery(value=f"disk full on host-{i}".encode(), headers={"ce_type": kind})


def test_render_digest_counts_and_samples() -> None:
    items = [event(i) for i in range(7)] + [event(9, "alarm.warning")]
    text = render_digest(items, 3, MARKDOWN)
    assert text.startswith("### kbridge digest: 8 events\n")
    # A rule needs blank lines around it, or markdown turns the line above into a heading.
    assert "\n\n---\n\n" in text
    assert "alarm.critical × 7, alarm.warning × 1" in text
    assert "host-0" in text and "host-2" in text and "host-3" not in text
    assert text.endswith("… and 5 more")


def test_render_digest_plain_single_event() -> None:
    text = render_digest([event(1)], 5)
    assert text.startswith("kbridge digest: 1 event\n")
    assert "more" not in text


def test_delivery_text_unquotes_json_strings() -> None:
    assert delivery_text(Delivery(value=b'"a\\nb"', headers={})) == "a\nb"
    assert delivery_text(Delivery(value=b'"not json', headers={})) == '"not json'
    assert delivery_text(Delivery(value=b"plain", headers={})) == "plain"


async def test_batches_within_a_window_become_one_message() -> None:
    clock = ManualClock(auto_advance=False)
    sent: list[list[Delivery]] = []

    async def send(items: list[Delivery]) -> None:
        sent.append(items)

    window = DigestWindow(60.0, send, clock)
    first = asyncio.create_task(window.submit([event(0), event(1)]))
    await asyncio.sleep(0)
    clock.advance(30)
    second = asyncio.create_task(window.submit([event(2)]))
    await asyncio.sleep(0)
    assert sent == [] and not first.done()  # nothing acknowledged before it was sent
    clock.advance(30)
    assert await first is None and await second is None
    assert [len(batch) for batch in sent] == [3]
    # The next event opens a new window.
    third = asyncio.create_task(window.submit([event(3)]))
    await asyncio.sleep(0)
    clock.advance(60)
    assert await third is None
    assert [len(batch) for batch in sent] == [3, 1]


async def test_a_failed_digest_fails_every_contributor() -> None:
    clock = ManualClock(auto_advance=False)
    error = RetriableError("down")

    async def send(items: list[Delivery]) -> None:
        raise error

    window = DigestWindow(10.0, send, clock)
    a = asyncio.create_task(window.submit([event(0)]))
    b = asyncio.create_task(window.submit([event(1)]))
    await asyncio.sleep(0)
    clock.advance(10)
    assert await a is error and await b is error


async def test_flush_sends_early() -> None:
    clock = ManualClock(auto_advance=False)
    sent: list[int] = []

    async def send(items: list[Delivery]) -> None:
        sent.append(len(items))

    window = DigestWindow(3600.0, send, clock)
    task = asyncio.create_task(window.submit([event(0)]))
    await asyncio.sleep(0)
    await window.flush()
    assert await task is None and sent == [1]
    await window.flush()  # nothing open: no empty message
    assert sent == [1]


async def test_flush_waits_for_a_digest_already_being_sent() -> None:
    clock = ManualClock(auto_advance=False)
    release = asyncio.Event()
    finished: list[int] = []

    async def slow_send(items: list[Delivery]) -> None:
        await release.wait()
        finished.append(len(items))

    window = DigestWindow(10.0, slow_send, clock)
    pending = asyncio.create_task(window.submit([event(0), event(1)]))
    await asyncio.sleep(0)
    clock.advance(10)  # the timer starts sending
    for _ in range(3):
        await asyncio.sleep(0)
    closing = asyncio.create_task(window.flush())  # what close() does
    await asyncio.sleep(0)
    assert not closing.done()  # it waits for the in-flight digest
    release.set()
    await closing
    assert finished == [2] and await pending is None
