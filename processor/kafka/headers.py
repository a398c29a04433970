"""The record format shared between kbridge's processes: every header name, one dead-letter builder.

The gateway and sources write ingress records, the router reads them and writes egress
records and bus dead letters, sink workers read egress records and write target dead
letters, and ``kbridge dlq`` / ``kbridge replay`` read them all back. Those processes never
import each other, so the names they agree on live here, below all of them; so does the one
function that builds a dead letter's headers, so that every dead-letter topic carries the
same headers with the same meaning (documented in docs/connectors.md, "Egress record
format"; :data:`BUS_DEAD_LETTER` and :data:`TARGET_DEAD_LETTER` are that table as code).

Pure: no Kafka client, no clock; it imports only the CloudEvents binding below it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

from processor.events import kafka as _binding

# --- the CloudEvents Kafka protocol binding -------------------------------------------------
# The binding itself (encode/decode) lives in the pure events package, which must not import
# this one; its two names are re-exported here so that writers have one place to look.
CE_PREFIX: Final = _binding.CE_PREFIX
"""Binary mode: each CloudEvents attribute ``x`` travels as header ``ce_x``."""
CONTENT_TYPE: Final = _binding.CONTENT_TYPE_HEADER
"""Binary mode: the data's media type; structured mode: ``application/cloudevents+json``."""
CE_ID: Final = CE_PREFIX + "id"

# --- kbridge's marks on ingress and egress records ------------------------------------------
SOURCE: Final = "kbridge-source"
"""The configured source (MQTT, AMQP, NATS, Kafka, schedule) that published an ingress record."""
RULE: Final = "kbridge-rule"
BUS: Final = "kbridge-bus"
TARGET: Final = "kbridge-target"
INGESTED_AT: Final = "kbridge-ingested-at"
REPLAY: Final = "kbridge-replay"
"""The replay id on records ``kbridge replay`` re-sent (and on what the router routed from them)."""
REPLAY_RULE: Final = "kbridge-replay-rule"

# --- dead letters ---------------------------------------------------------------------------
ERROR_CODE: Final = "kbridge-error-code"
ERROR_MESSAGE: Final = "kbridge-error-message"
FAILED_STAGE: Final = "kbridge-failed-stage"
ORIGINAL_OFFSET: Final = "kbridge-original-offset"
"""``topic[partition]@offset`` of the Kafka record that failed (absent for MQTT/AMQP/NATS input)."""
FAILED_AT: Final = "kbridge-failed-at"
ATTEMPTS: Final = "kbridge-attempts"
EXHAUSTED_CONDITION: Final = "kbridge-exhausted-condition"

DEAD_LETTER_ONLY: Final = frozenset(
    {
        ERROR_CODE,
        ERROR_MESSAGE,
        FAILED_STAGE,
        ORIGINAL_OFFSET,
        FAILED_AT,
        ATTEMPTS,
        EXHAUSTED_CONDITION,
    }
)
"""Headers only a dead letter carries: replaced on a second trip, stripped on redrive."""

Stage = Literal["decode", "transform", "produce", "deliver"]
"""Where the record failed: decoding input (router, sources), a rule's transformation
(router), writing the egress topic of an unwritable target (router), or delivery to the
target (sink worker)."""

MAX_ERROR_MESSAGE_BYTES: Final = 1024
"""One cap for every writer: a header is a place for a reason, not for a stack trace."""

BUS_DEAD_LETTER: Final = {
    "router-decode": frozenset({ERROR_CODE, ERROR_MESSAGE, FAILED_STAGE, BUS, ORIGINAL_OFFSET}),
    "router-transform": frozenset(
        {ERROR_CODE, ERROR_MESSAGE, FAILED_STAGE, BUS, ORIGINAL_OFFSET, RULE, TARGET}
    ),
    "router-produce": frozenset(
        {ERROR_CODE, ERROR_MESSAGE, FAILED_STAGE, BUS, ORIGINAL_OFFSET, RULE, TARGET}
    ),
    "source": frozenset({ERROR_CODE, ERROR_MESSAGE, FAILED_STAGE, BUS, SOURCE}),
    "kafka-source": frozenset(
        {ERROR_CODE, ERROR_MESSAGE, FAILED_STAGE, BUS, SOURCE, ORIGINAL_OFFSET}
    ),
}
"""The kbridge headers a ``kbridge.bus.<bus>.dlq`` record carries, by writer."""

TARGET_DEAD_LETTER: Final = frozenset(
    {
        ERROR_CODE,
        ERROR_MESSAGE,
        FAILED_STAGE,
        BUS,
        ORIGINAL_OFFSET,
        RULE,
        TARGET,
        FAILED_AT,
        ATTEMPTS,
        EXHAUSTED_CONDITION,
    }
)
"""The kbridge headers a ``kbridge.dlq.<target>`` record carries (``kbridge-bus`` and
``kbridge-rule`` come with the routed record)."""


def error_message(text: str) -> str:
    """``text`` on one line, cut to :data:`MAX_ERROR_MESSAGE_BYTES` of UTF-8 (``...`` marks it)."""
    line = " ".join(text.split())
    encoded = line.encode("utf-8")
    if len(encoded) <= MAX_ERROR_MESSAGE_BYTES:
        return line
    return encoded[: MAX_ERROR_MESSAGE_BYTES - 3].decode("utf-8", "ignore") + "..."


def dead_letter_headers(
    original: Iterable[tuple[str, bytes | str | None]],
    *,
    code: str,
    message: str,
    stage: Stage,
    bus: str | None = None,
    where: str | None = None,
    source: str | None = None,
    rule: str | None = None,
    target: str | None = None,
    failed_at: float | None = None,
    attempts: int | None = None,
    condition: str | None = None,
) -> list[tuple[str, bytes]]:
    """The headers of a dead letter: the original record's, then why kbridge gave up.

    Original headers keep their order and bytes. Earlier dead-letter headers
    (:data:`DEAD_LETTER_ONLY`) are dropped and written afresh, and a mark written here
    (``kbridge-bus``, ``-rule``, ``-target``, ``-source``) replaces the original's in
    place, so a record dead-lettered twice carries one reason, the latest, not a stack.
    ``None`` arguments are not written; ``where`` is the failed Kafka record's
    ``topic[partition]@offset``.
    """
    marks = {
        name: value
        for name, value in ((BUS, bus), (SOURCE, source), (RULE, rule), (TARGET, target))
        if value is not None
    }
    headers: list[tuple[str, bytes]] = []
    replaced: set[str] = set()
    for name, value in original:
        if name in DEAD_LETTER_ONLY or name in replaced:
            continue
        if name in marks:
            headers.append((name, marks[name].encode("utf-8")))
            replaced.add(name)
            continue
        raw = value if isinstance(value, bytes) else (value or "").encode("utf-8")
        headers.append((name, raw))
    added: list[tuple[str, str | None]] = [
        *((name, value) for name, value in marks.items() if name not in replaced),
        (ERROR_CODE, code),
        (ERROR_MESSAGE, error_message(message)),
        (FAILED_STAGE, stage),
        (ORIGINAL_OFFSET, where),
        (FAILED_AT, None if failed_at is None else f"{failed_at:.3f}"),
        (ATTEMPTS, None if attempts is None else str(attempts)),
        (EXHAUSTED_CONDITION, condition),
    ]
    return headers + [(name, value.encode("utf-8")) for name, value in added if value is not None]


def strip_dead_letter_headers(
    headers: Iterable[tuple[str, bytes]], *, marks: Iterable[str] = ()
) -> list[tuple[str, bytes]]:
    """A dead letter's headers as they were on the record that failed (for redrive).

    ``marks`` names marks the dead letter added that the original record did not carry
    (a sink's ``kbridge-target``).
    """
    dropped = DEAD_LETTER_ONLY | set(marks)
    return [(name, value) for name, value in headers if name not in dropped]
