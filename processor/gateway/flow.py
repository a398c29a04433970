"""Backpressure for the gateway: bounded bytes in flight and fast refusals while Kafka stalls.

Why: when Kafka cannot acknowledge (brokers down, ``min.insync.replicas`` not met), every
request used to wait for librdkafka's 60 s message timeout while its body and records sat
in memory, so a storm of clients grew the process without bound and got hangs instead of
answers. :class:`FlowControl` keeps one account per gateway process (one event loop):

* **bytes in flight**: request bodies being handled plus records produced and not yet
  settled by Kafka. A request that would pass ``max_inflight_bytes`` is refused at once
  with 503 + ``Retry-After`` (nothing produced), so memory stays bounded;
* **stalled**: set when a request's acknowledgement wait passed ``ack_timeout`` (the
  outcome of those records is unknown: they may still be written), or at once when
  librdkafka reports every broker down while records are pending. While records are still
  pending in a stalled producer, new requests are refused at once instead of queueing
  behind them. It clears by itself on the next acknowledgement, or when every pending
  record settled (delivered or failed), so the first request after that probes Kafka again.

Every method runs on the event loop thread (delivery callbacks hop there first), so the
counters need no lock.

**Giving memory back.** Freed request bodies and records go back to the C allocator, which
keeps the pages: after a storm the process would stay at its peak RSS. Once the in-flight
account is empty again after a peak of at least :data:`TRIM_AFTER_BYTES`, glibc's
``malloc_trim`` returns the free pages to the system (a second later, when the last
request's objects are gone; at most once per storm).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import math
import time
from collections import deque
from collections.abc import Callable

from processor.gateway.errors import ApiError

logger = logging.getLogger(__name__)

TRIM_AFTER_BYTES = 16 * 1024 * 1024
"""In-flight peak after which an emptied account trims the C heap."""


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


MALLOC_TRIM = _malloc_trim()


class FlowControl:
    """In-flight byte budget and stall state of one gateway process."""

    def __init__(
        self,
        *,
        max_inflight_bytes: int,
        ack_timeout: float,
        on_refuse: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.max_inflight_bytes = max_inflight_bytes
        self.on_refuse = on_refuse
        self.ack_timeout = ack_timeout
        self.inflight_bytes = 0
        self.pending_records = 0
        self.stalled_since: float | None = None
        self.refused = 0
        self.peak_bytes = 0
        self.peak_since_trim = 0
        self.trims = 0
        # Requests waiting for acknowledgements, by deadline (see watch()).
        self._waiting: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._waiting_loop: asyncio.AbstractEventLoop | None = None
        self._sweep_timer: asyncio.TimerHandle | None = None

    @property
    def retry_after(self) -> str:
        """``Retry-After`` seconds for a refused request (the ack timeout, at least 1 s)."""
        return str(max(1, math.ceil(self.ack_timeout)))

    def reserve(self, size: int) -> int:
        """Reserve ``size`` bytes or raise a 503 naming why; returns ``size`` for release.

        One request is always admitted when nothing is in flight, so a request larger than
        the budget (but within the size limits) still gets through on an idle gateway.
        """
        if self.stalled_since is not None and self.pending_records:
            self.refused += 1
            self.on_refuse("kafka-unavailable")
            stalled = time.monotonic() - self.stalled_since
            raise ApiError(
                503,
                "kafka-unavailable",
                f"Kafka has not acknowledged records for {stalled:.0f} s "
                f"({self.pending_records} pending); nothing was accepted, retry later",
                headers={"Retry-After": self.retry_after},
            )
        if self.inflight_bytes and self.inflight_bytes + size > self.max_inflight_bytes:
            self.refused += 1
            self.on_refuse("overloaded")
            raise ApiError(
                503,
                "overloaded",
                f"the gateway has {self.inflight_bytes} bytes in flight (limit "
                f"{self.max_inflight_bytes}); nothing was accepted, retry later",
                headers={"Retry-After": "1"},
            )
        self.inflight_bytes += size
        self.peak_bytes = max(self.peak_bytes, self.inflight_bytes)
        self.peak_since_trim = max(self.peak_since_trim, self.inflight_bytes)
        return size

    def release(self, size: int) -> None:
        """Give back reserved bytes (and, after a storm, the C heap's free pages)."""
        self.inflight_bytes -= size
        if not self.inflight_bytes and self.peak_since_trim >= TRIM_AFTER_BYTES:
            self.peak_since_trim = 0
            try:
                asyncio.get_running_loop().call_later(1.0, self._trim)
            except RuntimeError:  # no loop (a synchronous caller): trim now
                self._trim()

    def _trim(self) -> None:
        if self.inflight_bytes or MALLOC_TRIM is None:
            return  # a new storm: trim after it
        MALLOC_TRIM()
        self.trims += 1

    def watch(self, done: asyncio.Future[None]) -> None:
        """Settle ``done`` (with ``None``) ``ack_timeout`` from now unless it settles first.

        Why one timer for every waiting request instead of a ``call_later`` each: creating
        and cancelling a timer per request was a visible part of the event loop's work per
        request. Every request waits the same ``ack_timeout``, so deadlines arrive in the
        order requests do: a queue kept in that order, and one timer at its head, serve
        them all. Requests already answered are dropped from the head as new ones come;
        behind one still waiting they stay queued until its deadline (at most
        ``ack_timeout`` times the request rate entries of a few dozen bytes each).
        """
        loop = done.get_loop()
        if loop is not self._waiting_loop:  # a new event loop (tests): start over
            self._waiting.clear()
            self._waiting_loop = loop
            self._sweep_timer = None
        waiting = self._waiting
        while waiting and waiting[0][1].done():
            waiting.popleft()
        deadline = loop.time() + self.ack_timeout
        if waiting and deadline < waiting[-1][0]:  # ack_timeout was lowered: own timer
            loop.call_at(deadline, _expire, done)
            return
        waiting.append((deadline, done))
        if self._sweep_timer is None:
            self._sweep_timer = loop.call_at(deadline, self._sweep)

    def _sweep(self) -> None:
        """Settle every request whose deadline passed; re-arm for the next one."""
        loop = self._waiting_loop
        waiting = self._waiting
        self._sweep_timer = None
        if loop is None:
            return
        now = loop.time() + 0.001  # timers fire with 1 ms resolution: never spin on one
        while waiting and (waiting[0][0] <= now or waiting[0][1].done()):
            _expire(waiting.popleft()[1])
        if waiting:
            self._sweep_timer = loop.call_at(waiting[0][0], self._sweep)

    def records_sent(self, count: int) -> None:
        """``count`` records were handed to the producer."""
        self.pending_records += count

    def records_settled(self, count: int, acknowledged: bool) -> None:
        """``count`` records got their final answer from the producer."""
        self.pending_records -= count
        if self.stalled_since is not None and (acknowledged or not self.pending_records):
            logger.warning(
                "Kafka acknowledgements resumed; accepting requests again"
                if acknowledged
                else "every stalled record settled; probing Kafka again",
                extra={"stalled_seconds": round(time.monotonic() - self.stalled_since, 1)},
            )
            self.stalled_since = None

    def brokers_down(self) -> None:
        """librdkafka lost every broker: with records pending, stall now, not a timeout later."""
        if self.pending_records and self.stalled_since is None:
            self.stalled_since = time.monotonic()
            logger.warning(
                "every Kafka broker is down; refusing new requests until one acknowledges",
                extra={"pending": self.pending_records},
            )

    def timed_out(self) -> None:
        """A request waited ``ack_timeout`` without every acknowledgement: Kafka stalls."""
        if self.stalled_since is None:
            self.stalled_since = time.monotonic()
            logger.warning(
                "Kafka did not acknowledge within the ack timeout; refusing new requests "
                "until it does",
                extra={"ack_timeout": self.ack_timeout, "pending": self.pending_records},
            )


def _expire(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
