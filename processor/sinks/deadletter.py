"""Dead-letter records: the original record plus why kbridge gave up on it.

A dead letter keeps the egress record's value, key and headers byte for byte, so that
``kbridge dlq redrive`` can put it back on the target topic unchanged, and adds headers an
operator can filter on (built by :func:`processor.kafka.headers.dead_letter_headers`,
like every dead letter). Earlier ``kbridge-error-*`` headers (from a previous trip through
the dead-letter topic) are replaced, not stacked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from processor.errors import KbridgeError
from processor.kafka import headers as h
from processor.sinks.base import Delivery
from processor.sinks.retry import ExhaustedCondition

if TYPE_CHECKING:
    from processor.kafka.producer import AsyncSender

log = logging.getLogger(__name__)


def error_code(exc: BaseException) -> str:
    """The stable code of ``exc`` (``KbridgeError.code``), else its class name."""
    if isinstance(exc, KbridgeError):
        return exc.code
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    """A bounded, single-line message: headers are not the place for stack traces."""
    return h.error_message(str(exc) or type(exc).__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One delivery given up on, ready to produce to ``kbridge.dlq.<target>``."""

    delivery: Delivery
    error: BaseException
    condition: ExhaustedCondition
    attempts: int

    @property
    def value(self) -> bytes:
        """The record value as it was consumed (before any binary-mode rewrite)."""
        if self.delivery.original is not None:
            return self.delivery.original[0]
        return self.delivery.value

    def headers(self, target: str, failed_at: float) -> list[tuple[str, bytes]]:
        """Original headers (minus stale dead-letter headers) plus the error headers."""
        original: Sequence[tuple[str, bytes]] = self.delivery.raw_headers or [
            (k, v.encode("utf-8")) for k, v in self.delivery.headers.items()
        ]
        if self.delivery.original is not None:
            original = self.delivery.original[1]
        return h.dead_letter_headers(
            original,
            code=error_code(self.error),
            message=error_message(self.error),
            stage="deliver",
            rule=None if any(k == h.RULE for k, _ in original) else self.delivery.rule,
            target=target,
            where=self.delivery.where(),
            failed_at=failed_at,
            attempts=self.attempts,
            condition=self.condition,
        )


def strip_dead_letter_headers(
    headers: Sequence[tuple[str, bytes]],
) -> list[tuple[str, bytes]]:
    """The headers of a dead letter as they were on the egress record (for redrive)."""
    return h.strip_dead_letter_headers(headers, marks=(h.TARGET,))


class DeadLetterWriter:
    """Produces a batch's dead letters to ``kbridge.dlq.<target>`` and waits for Kafka.

    A partition's offsets move past a dead-lettered record only after this returned, so a
    dead letter Kafka did not acknowledge is retried (every ``retry`` seconds) rather than
    lost; it stops early only when ``still_ours`` says the partition was revoked (the next
    owner redelivers the record and dead-letters it again).
    """

    def __init__(
        self,
        sender: AsyncSender,
        topic: str,
        target: str,
        *,
        retry: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sender = sender
        self.topic = topic
        self.target = target
        self.retry = retry
        self.clock = clock

    async def write(self, letters: Sequence[DeadLetter], still_ours: Callable[[], bool]) -> None:
        """Produce every letter; return once all were acknowledged (or the partition left)."""
        pending = list(letters)
        while pending and still_ours():
            now = self.clock()
            results = await asyncio.gather(
                *(
                    self.sender.send(
                        self.topic,
                        letter.value,
                        key=letter.delivery.key,
                        headers=letter.headers(self.target, now),
                    )
                    for letter in pending
                ),
                return_exceptions=True,
            )
            failed = []
            for letter, result in zip(pending, results, strict=True):
                where = letter.delivery.where()
                if isinstance(result, BaseException):
                    failed.append(letter)
                    log.error(
                        "dead letter for %s not acknowledged, retrying: %s",
                        where,
                        result,
                        extra={"where": where},
                    )
                else:
                    log.warning(
                        "dead-lettered %s to %s (%s, %d attempts)",
                        where,
                        self.topic,
                        letter.condition,
                        letter.attempts,
                        extra={"where": where, "event_id": letter.delivery.event_id},
                    )
            pending = failed
            if pending:
                await asyncio.sleep(self.retry)
