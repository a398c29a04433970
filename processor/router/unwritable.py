"""Per-target bookkeeping for egress topics that cannot be written (issue 21 item 2).

A missing egress topic or a missing write ACL is a condition of one target, not of the
router: records for that target are held (the partition's offset is not committed past
them) while every other target and bus keeps flowing, the topic is retried every
``retry_every`` seconds, and once it has been unwritable for ``timeout`` seconds its
records go to the bus's dead-letter topic with stage ``produce``. Pure bookkeeping with an
injectable clock, shared by both engines and unit-tested without a broker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

DEFAULT_TIMEOUT = 60.0
RETRY_EVERY = 1.0
UNWRITABLE_CODE = "target-unwritable"
"""``kbridge-error-code`` of a record dead-lettered because its egress topic was unwritable."""


class Decision(Enum):
    """What to do with a record for a target topic right now."""

    SEND = "send"
    HOLD = "hold"
    DEAD_LETTER = "dead-letter"


@dataclass
class _Condition:
    since: float
    reason: str
    last_try: float


class TargetGate:
    """Which egress topics are unwritable, since when and why."""

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        retry_every: float = RETRY_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.retry_every = retry_every
        self._clock = clock
        self._conditions: dict[str, _Condition] = {}
        self._probation: dict[str, _Condition] = {}

    def decide(self, topic: str) -> Decision:
        """SEND while the topic is writable, HOLD within the timeout, then DEAD_LETTER."""
        condition = self._conditions.get(topic)
        if condition is None:
            return Decision.SEND
        if self._clock() - condition.since >= self.timeout:
            return Decision.DEAD_LETTER
        return Decision.HOLD

    def failed(self, topic: str, reason: str) -> bool:
        """Record a failed write; True when this starts the condition (log it once)."""
        now = self._clock()
        condition = self._conditions.get(topic)
        if condition is None:
            earlier = self._probation.pop(topic, None)
            if earlier is not None:  # a probe passed, the write did not: same condition
                earlier.reason, earlier.last_try = reason, now
                self._conditions[topic] = earlier
                return False
            self._conditions[topic] = _Condition(now, reason, now)
            return True
        condition.reason = reason
        condition.last_try = now
        return False

    def writable(self, topic: str) -> bool:
        """Record a successful write; True when this ends a condition (log it once)."""
        ended = self._conditions.pop(topic, None) is not None
        return self._probation.pop(topic, None) is not None or ended

    def probation(self, topic: str) -> None:
        """A probe (metadata) says the topic is back: SEND again, but a write that still
        fails (a missing write ACL passes the metadata probe) resumes the old condition
        instead of starting a new timeout."""
        condition = self._conditions.pop(topic, None)
        if condition is not None:
            self._probation[topic] = condition

    def due(self, topic: str) -> bool:
        """Whether a held topic should be tried again now (stamps the attempt)."""
        condition = self._conditions.get(topic)
        if condition is None:
            return True
        now = self._clock()
        if now - condition.last_try < self.retry_every:
            return False
        condition.last_try = now
        return True

    def reason(self, topic: str) -> str:
        """Why ``topic`` is unwritable, for the dead letter's error header."""
        condition = self._conditions.get(topic)
        if condition is None:
            return f"egress topic {topic} could not be written"
        return f"egress topic {topic} unwritable for {self.timeout:g} s: {condition.reason}"

    @property
    def unwritable(self) -> list[str]:
        """Topics currently in the unwritable condition."""
        return sorted(self._conditions)
