"""A destination that is down as a whole is one condition, not one failure per record.

When a database is stopped or a webhook host refuses connections, every record of every
batch fails the same way. Treating that per record (issue 21 item 5) made a 62 s MariaDB
outage drain only 214 s after the database came back: each record backed off on its own
jittered schedule (up to 215 s at attempt 9), the partition waited for the slowest, and the
log got one INFO line per record per attempt.

Instead, an attempt in which *every* item failed with a "destination unreachable" code
(:data:`UNREACHABLE_CODES`) makes the whole batch wait one short, capped backoff
(``Backoff(base=0.1, cap=2.0)`` by default: a probe at most every 2 s, so delivery resumes
within about 2 s of recovery) and try again together. These attempts do not count against
a rule's ``max_attempts`` (the events are not at fault); ``max_age`` still dead-letters an
event that waited too long. :class:`DestinationHealth`, shared by a worker's partitions,
logs once when the destination goes down and once when it is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from processor.sinks.base import DeliveryOutcome
from processor.sinks.deadletter import error_code, error_message

log = logging.getLogger(__name__)

#: Error codes meaning "the destination cannot be reached at all" (set by the sinks:
#: ``processor/sinks/http/status.py`` for connections and timeouts, ``mysql.py`` for a
#: database that is down, ``http/ssrf.py`` for DNS, ``im/email.py`` for SMTP).
UNREACHABLE_CODES = frozenset({"connection", "timeout", "dns", "db-unavailable", "smtp-connect"})


def unreachable(outcomes: Sequence[DeliveryOutcome]) -> BaseException | None:
    """The error if every outcome says the destination is unreachable, else ``None``."""
    if not outcomes:
        return None
    first = outcomes[0]
    for outcome in outcomes:
        if outcome is None or error_code(outcome) not in UNREACHABLE_CODES:
            return None
    return first


class DestinationHealth:
    """Whether a target's destination is reachable; logs once per change of state."""

    def __init__(self, target: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.target = target
        self.clock = clock
        self.down_since: float | None = None
        self.probes = 0
        self.on_change: Callable[[bool], None] | None = None

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    def failed(self, error: BaseException) -> None:
        """An attempt found the destination unreachable."""
        self.probes += 1
        if self.down_since is not None:
            return
        self.down_since = self.clock()
        log.warning(
            "destination of target %s is unreachable (%s: %s); holding its deliveries and "
            "probing every few seconds",
            self.target,
            error_code(error),
            error_message(error),
            extra={"target": self.target, "error_code": error_code(error)},
        )
        if self.on_change is not None:
            self.on_change(False)

    def answered(self) -> None:
        """An attempt reached the destination (whatever it answered)."""
        if self.down_since is None:
            return
        downtime = self.clock() - self.down_since
        log.info(
            "destination of target %s is reachable again after %.1fs (%d failed attempts)",
            self.target,
            downtime,
            self.probes,
            extra={"target": self.target, "downtime": downtime},
        )
        self.down_since = None
        self.probes = 0
        if self.on_change is not None:
            self.on_change(True)
