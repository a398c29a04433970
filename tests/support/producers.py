"""A producer for gateway tests that acknowledges every record at once and keeps it.

The gateway queues records with ``produce(..., on_delivery=...)`` (kbridge's ``Producer``);
this one calls ``on_delivery`` before returning, with partition 0 and offset 7, so tests of
the app (ASGI calls or a real HTTP server on loopback) need no broker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Record = tuple[str, bytes | None, bytes | None, dict[str, bytes]]
"""``(topic, key, value, headers)`` of one produced record."""


class AckedMessage:
    """The delivery report handed to ``on_delivery``: partition 0, offset 7."""

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7


class RecordingProducer:
    """Acknowledges at once and keeps what it was given, in order."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    @property
    def headers(self) -> list[dict[str, bytes]]:
        """Each record's headers."""
        return [record[3] for record in self.records]

    async def send(self, *args: Any, **kwargs: Any) -> tuple[int, int]:
        raise AssertionError("the gateway queues with produce()")

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
        on_delivery: Callable[[Any, Any], None],
        **_options: Any,
    ) -> None:
        self.records.append((topic, key, value, dict(headers)))
        on_delivery(None, AckedMessage())
