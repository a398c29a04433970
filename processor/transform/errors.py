"""Errors of the transform package.

Two moments can fail, and they must be told apart by callers:

* compiling a spec (``kbridge apply``, the management API, a live rule update):
  :class:`TransformSpecError`, a :class:`~processor.errors.ConfigError` *and* a ``ValueError``
  so that a pydantic validator calling :func:`compile_transform` reports it as a field error;
* applying a compiled transform to one event in the router: :class:`TransformError`, a
  :class:`~processor.errors.FatalError` (the same event fails the same way on every retry), so
  the router sends the event to the bus dead-letter topic with ``code`` in its headers.
"""

from __future__ import annotations

from processor.errors import ConfigError, FatalError


class TransformSpecError(ConfigError, ValueError):
    """A ``transform`` mapping that cannot be compiled; the message names the field."""

    code = "transform-spec-invalid"


class TransformError(FatalError):
    """Rendering one event failed; the message names the rule so operators find the config."""

    code = "transform-failed"

    def __init__(self, message: str, *, rule_name: str) -> None:
        super().__init__(f"transform of rule {rule_name!r} failed: {message}")
        self.rule_name = rule_name
