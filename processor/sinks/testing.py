"""Test doubles that ship with the code: an in-memory sink with scriptable failures.

Users writing rules want to see what a target would receive without a real destination;
kbridge's own worker and retry tests need a sink that fails on demand. ``ListSink`` is both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from processor.sinks.base import Delivery, DeliveryOutcome, Sink

FailWith = Callable[[Delivery, int], BaseException | None]
"""Given a delivery and its attempt number (1-based), the error to fail it with, or None."""


class ListSink(Sink):
    """Keeps delivered items in ``delivered``; ``fail_with`` decides per item and attempt."""

    def __init__(
        self,
        fail_with: FailWith | None = None,
        *,
        delay: float = 0.0,
        max_batch_size: int = 100,
    ) -> None:
        self.fail_with = fail_with
        self.delay = delay
        self.max_batch_size = max_batch_size
        self.delivered: list[Delivery] = []
        self.attempts: dict[tuple[str, int, int], int] = {}
        self.calls = 0
        self.closed = False

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[DeliveryOutcome]:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        outcomes: list[DeliveryOutcome] = []
        for item in batch:
            key = (item.topic, item.partition, item.offset)
            attempt = self.attempts.get(key, 0) + 1
            self.attempts[key] = attempt
            error = self.fail_with(item, attempt) if self.fail_with else None
            if error is None:
                self.delivered.append(item)
            outcomes.append(error)
        return outcomes

    async def close(self) -> None:
        self.closed = True
