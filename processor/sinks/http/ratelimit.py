"""The one rate limiter of the HTTP sinks: per destination, queueing callers instead of dropping.

Webhook and function targets cap invocations per second (EventBridge API destinations'
``rate_limit``, :func:`windows_for_rate`); the IM platforms count messages per robot
(DingTalk and WeCom: 20 per minute, and DingTalk throttles a robot for ten minutes once
exceeded; Feishu: 100 per minute and 5 per second; Slack: about one per second). Exceeding
them costs far more than waiting, so every send first takes a slot here. Sliding windows (a
log of recent send times per window) enforce the limit exactly, also at window edges where a
token bucket would allow a double burst.

Callers get slots in FIFO order (a slot is reserved before waiting for it). A caller that
would wait longer than its ``max_wait`` gets the wait back instead of a slot, so the sink can
return backpressure and let the worker pause the partition rather than block for minutes.

Limiters are shared per destination within a process (:func:`limiter_for`), so two targets
that point at the same robot or API share its budget. Time comes from one injectable
:class:`~processor.clock.Clock`, so limits are tested without sleeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from processor.clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` sends in any ``period`` seconds."""

    limit: int
    period: float

    def __post_init__(self) -> None:
        if self.limit < 1 or self.period <= 0:
            raise ValueError(f"invalid rate window {self.limit}/{self.period}s")


class RateLimiter:
    """Sliding-window limiter over one or more windows (all must have room)."""

    def __init__(
        self, windows: Sequence[Window], *, clock: Clock | None = None, margin: float = 0.0
    ) -> None:
        if not windows:
            raise ValueError("a rate limiter needs at least one window")
        self.windows = tuple(windows)
        self.margin = margin
        """Extra seconds added to every window: the platform's clock, network jitter and
        millisecond timestamps must not turn a send exactly at the window edge into one
        too many."""
        self.clock: Clock = clock or SYSTEM_CLOCK
        self._sent: list[deque[float]] = [deque() for _ in self.windows]
        self._last = float("-inf")
        self._blocked_until = 0.0

    def _next_slot(self, now: float) -> float:
        # Slots are handed out in order (FIFO), so every log stays sorted and the window
        # check reduces to: the limit-th most recent send must have left the window.
        slot = max(now, self._blocked_until, self._last)
        for window, sent in zip(self.windows, self._sent, strict=True):
            period = window.period + self.margin
            while sent and sent[0] <= now - period:
                sent.popleft()
            if len(sent) >= window.limit:
                slot = max(slot, sent[len(sent) - window.limit] + period)
        return slot

    def delay(self) -> float:
        """Seconds until a send asked for now would go out (0 when it may go now)."""
        now = self.clock.monotonic()
        return self._next_slot(now) - now

    async def acquire(self, max_wait: float | None = None) -> float:
        """Reserve the next free slot, wait for it, and return 0.0.

        Returns the wait instead (and reserves nothing) when the slot is more than
        ``max_wait`` away, or the remaining block when the destination throttled us while
        this caller waited. The reservation happens before any ``await``, so concurrent
        callers get consecutive slots in arrival order and none of them sleeps holding a
        lock that would stretch another caller's wait past its ``max_wait``.
        """
        now = self.clock.monotonic()
        slot = self._next_slot(now)
        wait = slot - now
        if max_wait is not None and wait > max_wait:
            return wait
        for sent in self._sent:
            sent.append(slot)
        self._last = slot
        if wait > 0:
            await self.clock.sleep(wait)
        blocked = self._blocked_until - self.clock.monotonic()
        return blocked if blocked > 0 else 0.0

    def block_for(self, seconds: float) -> None:
        """Stop sending for ``seconds``: the destination told us it is throttling us."""
        self._blocked_until = max(self._blocked_until, self.clock.monotonic() + seconds)


_LIMITERS: dict[tuple[str, tuple[Window, ...]], RateLimiter] = {}


def limiter_for(
    destination: str, windows: Sequence[Window], clock: Clock, margin: float = 0.0
) -> RateLimiter:
    """The process-wide limiter of ``destination`` (e.g. a webhook URL; never logged)."""
    key = (destination, tuple(windows))
    limiter = _LIMITERS.get(key)
    if limiter is None or limiter.clock is not clock or limiter.margin != margin:
        limiter = RateLimiter(windows, clock=clock, margin=margin)
        _LIMITERS[key] = limiter
    return limiter


def windows_for_rate(rate_per_second: float) -> list[Window]:
    """The window of ``rate_per_second`` sends: ``rate`` per second when it is whole, else one
    send per ``1/rate`` seconds (0.5 per second: one every two seconds)."""
    if rate_per_second <= 0:
        raise ValueError("rate must be positive")
    if rate_per_second >= 1 and float(rate_per_second).is_integer():
        return [Window(int(rate_per_second), 1.0)]
    return [Window(1, 1.0 / rate_per_second)]


def destination(url: str) -> str:
    """The rate-limit key of an API ``url``: scheme, host and port (path and token dropped)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"
