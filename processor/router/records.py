"""Record shapes crossing the routing core's boundary: what came in, what goes out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

Headers = Sequence[tuple[str, bytes | None]]


class InRecord(NamedTuple):
    """An ingress record as any Kafka client hands it over.

    A named tuple rather than a frozen dataclass: one is built per consumed record, and a
    tuple is several times cheaper to create on the engines' hot path.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers | None = None
    timestamp_ms: int | None = None

    def where(self) -> str:
        """``topic[partition]@offset`` for log lines."""
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A record to produce: an egress record for a target, or a dead letter for a bus."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    rule: str | None = None
    target: str | None = None
    dead_letter: bool = False


@dataclass(frozen=True, slots=True)
class RouteResult:
    """Everything routing one ingress record produced, plus what metrics need to know."""

    bus: str | None
    records: list[OutRecord]
    matched_rules: tuple[str, ...] = ()
    error_code: str | None = None
