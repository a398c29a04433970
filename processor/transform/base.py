"""The :class:`Transform` contract and the JSON encoding every kind shares.

A transform is compiled once per (rule, target) when rules change and applied once per
matched event in the router, so everything that can be decided from the spec (paths,
template pieces, constant output, content type) is decided at compile time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from processor.events import deepjson

JSON: Final = "application/json"
TEXT: Final = "text/plain"


def json_default(value: Any) -> Any:
    """orjson serialises only ``dict``; events built from other mappings still encode."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``; raises ``orjson.JSONEncodeError`` (a ``TypeError``).

    orjson escapes quotes, backslashes and control characters and rejects strings that are
    not valid Unicode (lone surrogates), so what it returns always parses as JSON.
    """
    return deepjson.dumps(value, default=json_default).decode()  # any depth AWS accepts


class Transform(ABC):
    """A compiled transformation of one (rule, target): event mapping in, payload text out."""

    #: short name of the kind: ``whole``, ``path``, ``constant`` or ``template``.
    kind: ClassVar[str]
    #: MIME type of :meth:`apply`'s output; the router writes it into the egress record.
    content_type: str

    @abstractmethod
    def apply(
        self,
        event: Mapping[str, Any],
        *,
        rule_name: str,
        ingestion_time: str | None = None,
        bus_name: str | None = None,
    ) -> str:
        """Render ``event`` (the CloudEvent's JSON form, ``data`` decoded).

        ``rule_name`` names the matched rule (for ``<kbridge.rule-name>`` and error messages);
        ``ingestion_time`` is when the bus received the event (ISO 8601), defaulting to now;
        ``bus_name`` is the bus the rule belongs to (for ``<aws.events.rule-arn>``).
        Raises :class:`~processor.transform.errors.TransformError` when the output cannot be
        produced.
        """
