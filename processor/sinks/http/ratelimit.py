"""Per-destination invocation rate limit (EventBridge API destinations' ``rate_limit``).

A token bucket per destination (scheme, host, port), shared by every sink in the process
that calls it, so two targets pointing at one API share its budget. Callers wait for a
token (FIFO behind a lock) instead of failing: the limit shapes traffic, it never drops it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import urlsplit


class TokenBucket:
    """``rate`` tokens per second, bursts of up to ``burst`` tokens."""

    def __init__(
        self, rate: float, burst: float | None = None, *, clock: Callable[[], float] | None = None
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock or time.monotonic
        self._tokens = self.burst
        self._stamp = self._clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> None:
        """Wait until a token is available and take it."""
        async with self._lock:
            self._refill()
            while self._tokens < 1.0:
                await asyncio.sleep((1.0 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1.0


_BUCKETS: dict[tuple[str, float], TokenBucket] = {}


def destination(url: str) -> str:
    """The rate-limit key of ``url``: scheme, host and port."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def bucket_for(url: str, rate: float) -> TokenBucket:
    """The process-wide bucket of ``url``'s destination at ``rate`` invocations per second."""
    key = (destination(url), rate)
    bucket = _BUCKETS.get(key)
    if bucket is None:
        bucket = _BUCKETS[key] = TokenBucket(rate)
    return bucket
