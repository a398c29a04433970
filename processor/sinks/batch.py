"""Drive one batch to completion: every item delivered or given up on.

This is the heart of at-least-once delivery. The worker commits a partition's offsets only
after :func:`run_batch` returned and its dead letters were acknowledged by Kafka, so a crash
at any point replays the batch rather than losing it. Items are retried individually (the
sink reports one outcome per item), so a failing item never holds back the delivered ones,
and each item keeps its own attempt count and age.

Waiting is delegated to ``wait`` so the worker can pause the partition during long waits
instead of blocking its poll loop; the clock and random source are injectable for tests.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from processor.errors import FatalError
from processor.kafka.headers import INGESTED_AT
from processor.sinks.base import Delivery, DeliveryOutcome, Sink
from processor.sinks.deadletter import DeadLetter, error_code, error_message
from processor.sinks.outage import DestinationHealth, unreachable
from processor.sinks.retry import Backoff, GiveUp, RetryLimits, decide
from processor.trace import writer as trace_writer

log = logging.getLogger(__name__)


LimitsFor = Callable[[Delivery], RetryLimits]
#: The wait between attempts while the whole destination is unreachable: short and capped,
#: so delivery resumes within about two seconds of the recovery.
OUTAGE_BACKOFF = Backoff(base=0.1, cap=2.0)
Wait = Callable[[float], Awaitable[None]]


def event_origin(delivery: Delivery, default: float) -> float:
    """When the event entered kbridge (epoch seconds): the age ``max_age`` is measured from.

    ``kbridge-ingested-at`` may be epoch seconds, epoch milliseconds or ISO 8601; the Kafka
    record timestamp is the fallback, then ``default`` (the first attempt).
    """
    raw = delivery.headers.get(INGESTED_AT)
    if raw:
        try:
            number = float(raw)
        except ValueError:
            try:
                return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
            except ValueError:
                pass
        else:
            return number / 1000.0 if number > 1e11 else number
    if delivery.timestamp is not None:
        return delivery.timestamp
    return default


@dataclass(slots=True)
class _Pending:
    delivery: Delivery
    origin: float
    attempts: int = 0
    due: float = 0.0
    #: Attempts that found the whole destination unreachable (not counted in ``attempts``,
    #: which ``max_attempts`` bounds: the event is not at fault).
    outage_tries: int = 0


@dataclass(slots=True)
class BatchResult:
    """What happened to a batch: how many were delivered, and the dead letters."""

    delivered: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    attempts: int = 0
    #: Failed attempts per error code (retried or not), for metrics.
    failures: Counter[str] = field(default_factory=Counter)
    #: Seconds from ingestion to delivery, per delivered item.
    latencies: list[float] = field(default_factory=list)


async def _attempt(sink: Sink, items: Sequence[Delivery]) -> Sequence[DeliveryOutcome]:
    """One ``deliver`` call; a raised exception or a contract breach fails every item."""
    try:
        outcomes = await sink.deliver(items)
    except Exception as exc:  # the sink failed as a whole: same outcome for every item
        return [exc] * len(items)
    if len(outcomes) != len(items):
        breach = FatalError(
            f"{type(sink).__name__}.deliver returned {len(outcomes)} outcomes "
            f"for {len(items)} items",
            code="sink-contract",
        )
        return [breach] * len(items)
    return outcomes


async def run_batch(
    sink: Sink,
    batch: Sequence[Delivery],
    *,
    limits_for: LimitsFor,
    wait: Wait,
    backoff: Backoff | None = None,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
    health: DestinationHealth | None = None,
    outage_backoff: Backoff = OUTAGE_BACKOFF,
) -> BatchResult:
    """Deliver ``batch`` through ``sink``, retrying per item, until nothing is pending.

    An attempt in which the destination was unreachable for every item (see
    :mod:`processor.sinks.outage`) holds the whole batch for one ``outage_backoff`` wait
    instead: the batch is retried together and resumes within that cap of the recovery.
    """
    backoff = backoff or Backoff()
    rng = rng or random.Random()
    now = clock()
    pending = [_Pending(d, event_origin(d, now), due=now) for d in batch]
    result = BatchResult()
    chunk_size = max(1, sink.max_batch_size)
    outages = 0
    tracing, started = trace_writer.hooks_on(), now
    while pending:
        now = clock()
        earliest = min(p.due for p in pending)
        if earliest > now:
            await wait(earliest - now)
            now = clock()
        due = [p for p in pending if p.due <= now]
        later = [p for p in pending if p.due > now]
        retry: list[_Pending] = []
        held: list[_Pending] = []
        down: BaseException | None = None
        retries: Counter[str] = Counter()
        for start in range(0, len(due), chunk_size):
            chunk = due[start : start + chunk_size]
            if down is not None:  # found down in this round: do not hammer it with the rest
                held.extend(chunk)
                continue
            outcomes = await _attempt(sink, [p.delivery for p in chunk])
            result.attempts += 1
            now = clock()
            down = unreachable(outcomes)
            if down is not None:
                result.failures[error_code(down)] += len(chunk)
                for item in chunk:
                    item.outage_tries += 1
                    if tracing and item.outage_tries == 1:  # once per event: docs/tracing.md
                        why = error_message(down)
                        code = error_code(down)
                        trace_writer.retried(item.delivery, item.attempts, code, why, None)
                held.extend(chunk)
                if health is not None:
                    health.failed(down)
                continue
            if health is not None:
                health.answered()
            outages = 0
            for item, outcome in zip(chunk, outcomes, strict=True):
                item.attempts += 1
                if outcome is None:
                    result.delivered += 1
                    result.latencies.append(now - item.origin)
                    if tracing:  # trace records and spans: docs/tracing.md
                        tries = item.attempts + item.outage_tries
                        latency = now - item.origin
                        trace_writer.delivered(
                            item.delivery, attempts=tries, latency=latency, started=started
                        )
                    continue
                result.failures[error_code(outcome)] += 1
                step = decide(
                    outcome,
                    attempts=item.attempts,
                    age=now - item.origin,
                    limits=limits_for(item.delivery),
                    backoff=backoff,
                    rng=rng,
                )
                extra = {
                    "where": item.delivery.where(),
                    "event_id": item.delivery.event_id,
                    "error_code": error_code(outcome),
                    "attempts": item.attempts,
                }
                if isinstance(step, GiveUp):
                    log.warning(
                        "giving up on %s after %d attempts (%s): %s",
                        item.delivery.where(),
                        item.attempts,
                        step.condition,
                        outcome,
                        extra={**extra, "condition": step.condition},
                    )
                    tries = item.attempts + item.outage_tries
                    result.dead_letters.append(
                        DeadLetter(item.delivery, outcome, step.condition, tries)
                    )
                else:
                    log.debug(
                        "delivery of %s failed (attempt %d), retrying in %.2fs: %s",
                        item.delivery.where(),
                        item.attempts,
                        step.delay,
                        outcome,
                        extra={**extra, "delay": step.delay},
                    )
                    retries[error_code(outcome)] += 1
                    if tracing:  # docs/tracing.md
                        why = error_message(outcome)
                        code = error_code(outcome)
                        trace_writer.retried(item.delivery, item.attempts, code, why, step.delay)
                    item.due = now + step.delay
                    retry.append(item)
        if retries:
            log.info(
                "%d of %d deliveries on %s failed (%s), retrying each after its backoff",
                sum(retries.values()),
                len(due),
                due[0].delivery.where().rsplit("@", 1)[0],
                ", ".join(f"{code} x{n}" for code, n in retries.items()),
                extra={"error_codes": dict(retries)},
            )
        if down is not None:
            outages += 1
            until = now + outage_backoff.delay(outages, rng)
            for item in held:
                if until - item.origin > limits_for(item.delivery).max_age:
                    tries = item.attempts + item.outage_tries
                    result.dead_letters.append(DeadLetter(item.delivery, down, "age", tries))
                else:
                    item.due = until
                    retry.append(item)
        pending = later + retry
    return result
