"""What every IM sink shares: rate limiting, digests, per-item outcomes, SSRF checks.

A platform module supplies the destination, its rate windows, and how one text becomes one
or more sent messages (:meth:`ImSink.send_text`); this class turns a batch into per-item
outcomes. Items go out one at a time in order, each after taking a slot from the
destination's limiter. When the platform (or the limiter) says "slow down", the rest of the
batch is not attempted: each remaining item gets the same :class:`BackpressureError`, the
limiter stops sending for ``retry_after``, and the worker retries later.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from typing import Any

from processor.clock import SYSTEM_CLOCK, Clock
from processor.errors import BackpressureError
from processor.sinks.base import Delivery, DeliveryOutcome, Sink
from processor.sinks.http.ratelimit import RateLimiter, Window, limiter_for
from processor.sinks.im.config import Digest
from processor.sinks.im.digest import (
    PLAIN,
    DigestStyle,
    DigestWindow,
    delivery_text,
    render_digest,
)

logger = logging.getLogger(__name__)

RATE_MARGIN_SECONDS = 0.05
"""Safety margin on every rate window (see :attr:`RateLimiter.margin`)."""

DEFAULT_THROTTLE_SECONDS = 60.0
"""How long to stop sending when a platform throttles us without saying for how long."""


class ImSink(Sink, abc.ABC):
    """Base of the DingTalk, WeCom, Feishu, Slack and email sinks."""

    #: How digests render on this target (plain text unless the sink says otherwise).
    digest_style: DigestStyle = PLAIN

    def __init__(
        self,
        *,
        name: str,
        destination: str,
        windows: Sequence[Window],
        digest: Digest | None,
        max_wait_seconds: float,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.max_wait_seconds = max_wait_seconds
        self.limiter: RateLimiter = limiter_for(
            destination, windows, self.clock, RATE_MARGIN_SECONDS
        )
        self.digest = digest
        self._window = (
            DigestWindow(digest.window_seconds, self._send_digest, self.clock) if digest else None
        )

    @abc.abstractmethod
    async def check_destination(self) -> None:
        """Raise if the destination may not be reached (SSRF guard)."""

    @abc.abstractmethod
    async def send_text(self, text: str, context: Delivery) -> None:
        """Send ``text`` as one or more messages (taking a limiter slot for each), or raise."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A loggable name of the destination (no tokens)."""

    async def take_slot(self) -> None:
        """Wait for the rate limiter, or raise backpressure when the wait is too long."""
        wait = await self.limiter.acquire(self.max_wait_seconds)
        if wait > 0:
            raise BackpressureError(
                f"rate limit of {self.describe()}: next slot in {wait:.1f} s",
                retry_after=wait,
                code="rate-limited",
            )

    def throttled(self, exc: BackpressureError) -> None:
        """The platform throttled us: stop sending to it for a while."""
        self.limiter.block_for(exc.retry_after or DEFAULT_THROTTLE_SECONDS)

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[DeliveryOutcome]:
        if not batch:
            return []
        try:
            await self.check_destination()
        except Exception as exc:
            self._log_failure(batch[0], exc)
            return [exc] * len(batch)
        if self._window is not None:
            outcome = await self._window.submit(batch)
            return [outcome] * len(batch)
        try:
            return await self._deliver_each(batch)
        finally:
            await self.end_batch()

    async def end_batch(self) -> None:
        """Called after each batch (and digest): release what sending it held open."""

    async def _deliver_each(self, batch: Sequence[Delivery]) -> list[DeliveryOutcome]:
        outcomes: list[DeliveryOutcome] = []
        stop: BackpressureError | None = None
        for item in batch:
            if stop is not None:
                outcomes.append(stop)
                continue
            try:
                await self.send_text(delivery_text(item), item)
            except BackpressureError as exc:
                self._log_failure(item, exc)
                stop = exc
                outcomes.append(exc)
            except Exception as exc:  # per item: one bad message never fails its neighbours
                self._log_failure(item, exc)
                outcomes.append(exc)
            else:
                logger.debug(
                    "delivered %s to %s",
                    item.where(),
                    self.describe(),
                    extra=self._extra(item),
                )
                outcomes.append(None)
        return outcomes

    async def _send_digest(self, items: list[Delivery]) -> None:
        text = self.digest_text(items)
        try:
            await self.send_text(text, items[0])
        except Exception as exc:
            self._log_failure(items[0], exc)
            raise
        finally:
            await self.end_batch()
        logger.info(
            "delivered a digest of %d events to %s",
            len(items),
            self.describe(),
            extra={**self._extra(items[0]), "digest_count": len(items)},
        )

    def digest_text(self, items: Sequence[Delivery]) -> str:
        """The text of one digest message, in :attr:`digest_style`."""
        max_items = self.digest.max_items if self.digest else len(items)
        return render_digest(items, max_items, self.digest_style)

    async def close(self) -> None:
        if self._window is not None:
            await self._window.flush()

    def _extra(self, item: Delivery) -> dict[str, Any]:
        return {
            "target": self.name,
            "destination": self.describe(),
            "record": item.where(),
            "event_id": item.event_id,
            "rule": item.rule,
        }

    def _log_failure(self, item: Delivery, exc: BaseException) -> None:
        logger.warning(
            "delivery of %s to %s failed: %s",
            item.where(),
            self.describe(),
            exc,
            extra={**self._extra(item), "error_code": getattr(exc, "code", type(exc).__name__)},
        )
