"""The one error a pattern can raise: :class:`PatternError`.

It is a ``ValueError`` (bad input) for callers that know nothing of kbridge, and a
:class:`~processor.errors.FatalError` because retrying the same pattern can never succeed.
The message copies AWS EventBridge's wording so that users can paste it into a search
engine and land on the same answers as for the AWS service.
"""

from __future__ import annotations

from processor.errors import FatalError

AWS_PREFIX = "Event pattern is not valid. Reason: "


class PatternError(FatalError, ValueError):
    """An event pattern that AWS EventBridge would reject.

    ``reason`` is AWS's reason text alone; ``path`` is the dotted field path where the
    problem was found (empty for problems with the pattern as a whole).
    """

    code = "invalid-pattern"

    def __init__(self, reason: str, path: str = "") -> None:
        message = AWS_PREFIX + reason
        if path:
            message += f"\n at field: {path}"
        super().__init__(message)
        self.reason = reason
        self.path = path
