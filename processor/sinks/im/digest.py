"""Digest mode: the events of a time window become one message with a count and a sample.

An alarm storm (hundreds of "disk full" events in a minute) should reach a group chat as a
few messages, not be throttled for ten minutes after the twentieth. With a digest configured,
the first event opens a window of ``window_seconds``; every batch delivered while it is open
joins it; when it closes, one message goes out with the count, a breakdown by event type and
the first ``max_items`` messages, and every ``deliver`` call that contributed gets that one
outcome.

Nothing is acknowledged before it was sent: ``deliver`` calls wait for their window to close,
so offsets are committed only after the digest message was delivered (at-least-once holds; a
crash mid-window redelivers the batch). No periodic tick is needed: the window closes on its
own timer (the injectable clock's ``sleep``), or early on :meth:`DigestWindow.flush`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from processor.clock import Clock
from processor.errors import RetriableError
from processor.sinks.base import Delivery

SendDigest = Callable[[list[Delivery]], Awaitable[None]]


class DigestWindow:
    """Collects deliveries for one window and sends them as one message via ``send``."""

    def __init__(self, window_seconds: float, send: SendDigest, clock: Clock) -> None:
        self.window_seconds = window_seconds
        self._send = send
        self._clock = clock
        self._items: list[Delivery] = []
        self._result: asyncio.Future[BaseException | None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()

    async def submit(self, batch: Sequence[Delivery]) -> BaseException | None:
        """Add ``batch`` to the open window (opening one if needed); wait for its outcome."""
        if self._result is None:
            self._result = asyncio.get_running_loop().create_future()
            deadline = self._clock.monotonic() + self.window_seconds
            self._timer = asyncio.create_task(self._close_later(deadline))
        result = self._result
        self._items.extend(batch)
        return await asyncio.shield(result)

    async def _close_later(self, deadline: float) -> None:
        await self._clock.sleep(deadline - self._clock.monotonic())
        self._timer = None
        await self.flush()

    async def flush(self) -> None:
        """Close the open window now and send its digest.

        Serialized: a flush from :meth:`~processor.sinks.im.base.ImSink.close` waits for a
        digest the timer is still sending, so the HTTP client is not closed under it.
        """
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        if self._result is None:
            return
        result, items = self._result, self._items
        self._result, self._items = None, []
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        try:
            await self._send(items)
        except asyncio.CancelledError:
            result.set_result(RetriableError("digest delivery was cancelled", code="cancelled"))
            raise
        except Exception as exc:  # one outcome for every item of the window
            result.set_result(exc)
        else:
            result.set_result(None)


def delivery_text(delivery: Delivery) -> str:
    """The message text of a delivery: its transformed payload as text.

    A payload that is a JSON string literal (a template rendered as JSON) is unquoted.
    """
    text = delivery.value.decode("utf-8", errors="replace")
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        try:
            value = json.loads(stripped)
        except ValueError:
            return text
        if isinstance(value, str):
            return value
    return text


@dataclass(frozen=True, slots=True)
class DigestStyle:
    """How a digest looks on one platform's renderer."""

    heading: str = "{}"
    """Format of the first line (``"### {}"`` for markdown, ``"*{}*"`` for Slack mrkdwn)."""
    separator: str = "\n――――――――\n"
    """Between items; markdown needs blank lines around ``---`` (else it makes a heading)."""


PLAIN = DigestStyle()
MARKDOWN = DigestStyle(heading="### {}", separator="\n\n---\n\n")


def render_digest(items: Sequence[Delivery], max_items: int, style: DigestStyle = PLAIN) -> str:
    """The digest message: count, breakdown by event type, then the first ``max_items`` texts."""
    count = len(items)
    types = Counter(item.headers.get("ce_type", "") or "(no type)" for item in items)
    heading = style.heading.format(f"kbridge digest: {count} event{'s' if count != 1 else ''}")
    breakdown = ", ".join(f"{name} × {n}" for name, n in types.most_common(5))
    if len(types) > 5:
        breakdown += f", … ({len(types) - 5} more types)"
    shown = [delivery_text(item).strip() for item in items[:max_items]]
    text = f"{heading}\n{breakdown}{style.separator}{style.separator.join(shown)}"
    if count > max_items:
        text += f"{style.separator}… and {count - max_items} more"
    return text
