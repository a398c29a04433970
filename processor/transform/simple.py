"""The three kinds without a template: the whole event, one part of it, a constant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processor.transform.base import JSON, TEXT, Transform, dumps
from processor.transform.errors import TransformError
from processor.transform.jsonpath import MISSING, JsonPath


class WholeEventTransform(Transform):
    """The default: the CloudEvent's JSON form, unchanged, as compact JSON."""

    kind = "whole"

    def __init__(self) -> None:
        self.content_type = JSON

    def apply(
        self,
        event: Mapping[str, Any],
        *,
        rule_name: str,
        ingestion_time: str | None = None,
        bus_name: str | None = None,
    ) -> str:
        try:
            return dumps(event)
        except TypeError as exc:
            raise TransformError(
                f"the event is not JSON serializable: {exc}", rule_name=rule_name
            ) from exc

    def __repr__(self) -> str:
        return "WholeEventTransform()"


class PathTransform(Transform):
    """``{path: "$.data"}``: the selected value as JSON.

    A definite path that selects nothing is an error (the target would otherwise receive
    an empty or ``null`` body it cannot tell from real data); a wildcard path yields the list
    of its matches, possibly empty.
    """

    kind = "path"

    def __init__(self, path: JsonPath) -> None:
        self.path = path
        self.content_type = JSON

    def apply(
        self,
        event: Mapping[str, Any],
        *,
        rule_name: str,
        ingestion_time: str | None = None,
        bus_name: str | None = None,
    ) -> str:
        value = self.path.select(event)
        if value is MISSING:
            raise TransformError(f"path {self.path.text} selected nothing", rule_name=rule_name)
        try:
            return dumps(value)
        except TypeError as exc:
            raise TransformError(
                f"the value at {self.path.text} is not JSON serializable: {exc}",
                rule_name=rule_name,
            ) from exc

    def __repr__(self) -> str:
        return f"PathTransform({self.path.text!r})"


class ConstantTransform(Transform):
    """``{constant: ...}``: the same output for every event, rendered at compile time.

    A string constant is sent as text (``text/plain``), verbatim: an IM message or a fixed
    body. Any other value (object, array, number, boolean, null) is sent as JSON.
    """

    kind = "constant"

    def __init__(self, output: str, content_type: str) -> None:
        self.output = output
        self.content_type = content_type

    @classmethod
    def of(cls, value: Any) -> ConstantTransform:
        """Render ``value`` once; raises ``TypeError`` when it is not JSON serializable."""
        if isinstance(value, str):
            return cls(value, TEXT)
        return cls(dumps(value), JSON)

    def apply(
        self,
        event: Mapping[str, Any],
        *,
        rule_name: str,
        ingestion_time: str | None = None,
        bus_name: str | None = None,
    ) -> str:
        return self.output

    def __repr__(self) -> str:
        return f"ConstantTransform({self.output!r}, {self.content_type!r})"
