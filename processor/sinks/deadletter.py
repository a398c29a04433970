"""Dead-letter records: the original record plus why kbridge gave up on it.

A dead letter keeps the egress record's value, key and headers byte for byte, so that
``kbridge dlq redrive`` can put it back on the target topic unchanged, and adds headers an
operator can filter on. Earlier ``kbridge-error-*`` headers (from a previous trip through
the dead-letter topic) are replaced, not stacked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from processor.errors import KbridgeError
from processor.sinks.base import Delivery
from processor.sinks.retry import ExhaustedCondition

ERROR_CODE = "kbridge-error-code"
ERROR_MESSAGE = "kbridge-error-message"
EXHAUSTED_CONDITION = "kbridge-exhausted-condition"
ATTEMPTS = "kbridge-attempts"
RULE = "kbridge-rule"
TARGET = "kbridge-target"
FAILED_AT = "kbridge-failed-at"
ORIGINAL_WHERE = "kbridge-original-offset"

#: Headers this module owns; stripped from the original before new ones are added.
DLQ_HEADERS = frozenset(
    {ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_CONDITION, ATTEMPTS, TARGET, FAILED_AT, ORIGINAL_WHERE}
)
MAX_MESSAGE_BYTES = 4096


def error_code(exc: BaseException) -> str:
    """The stable code of ``exc`` (``KbridgeError.code``), else its class name."""
    if isinstance(exc, KbridgeError):
        return exc.code
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    """A bounded, single-line message: headers are not the place for stack traces."""
    text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_MESSAGE_BYTES:
        text = encoded[: MAX_MESSAGE_BYTES - 3].decode("utf-8", "ignore") + "..."
    return text


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
        kept = [(k, v) for k, v in original if k not in DLQ_HEADERS]
        if not any(k == RULE for k, _ in kept):
            kept.append((RULE, self.delivery.rule.encode("utf-8")))
        added = {
            ERROR_CODE: error_code(self.error),
            ERROR_MESSAGE: error_message(self.error),
            EXHAUSTED_CONDITION: self.condition,
            ATTEMPTS: str(self.attempts),
            TARGET: target,
            FAILED_AT: f"{failed_at:.3f}",
            ORIGINAL_WHERE: self.delivery.where(),
        }
        return kept + [(k, v.encode("utf-8")) for k, v in added.items()]


def strip_dead_letter_headers(
    headers: Sequence[tuple[str, bytes]],
) -> list[tuple[str, bytes]]:
    """The headers of a dead letter as they were on the egress record (for redrive)."""
    return [(k, v) for k, v in headers if k not in DLQ_HEADERS]
