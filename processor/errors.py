"""The one exception hierarchy of kbridge.

Retry-or-dead-letter decisions read the ``retriable`` class attribute, never the message::

    KbridgeError                      (root; retriable = False)
    ├── RetriableError                (transient: broker down, 5xx, timeouts; retriable = True)
    │   └── BackpressureError         (the destination asked us to slow down; carries retry_after)
    ├── FatalError                    (retrying cannot help: bad payload, auth failure, 4xx)
    │   ├── ConfigError               (a kbridge.yaml or settings problem, names file/object/field)
    │   └── InvalidEventError         (a record that is not a valid CloudEvent)
    └── (module errors such as PatternError and TransformError subclass these)

``code`` is a short stable identifier written into dead-letter headers
(``kbridge-error-code``) so that operators can filter on it.
"""

from __future__ import annotations


class KbridgeError(Exception):
    """Root of every error kbridge raises on purpose."""

    retriable: bool = False
    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class RetriableError(KbridgeError):
    """A transient failure: the same operation may succeed later."""

    retriable = True
    code = "retriable"


class BackpressureError(RetriableError):
    """The destination is overloaded or rate limited; wait ``retry_after`` seconds."""

    code = "backpressure"

    def __init__(
        self, message: str, *, retry_after: float | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class FatalError(KbridgeError):
    """A permanent failure: retrying the same input cannot succeed."""

    retriable = False
    code = "fatal"


class ConfigError(FatalError):
    """Invalid configuration; the message names the file, the object and the field."""

    code = "config"


class InvalidEventError(FatalError):
    """A record that is not a valid CloudEvent; the message says what is wrong."""

    code = "invalid-event"


def is_retriable(exc: BaseException) -> bool:
    """Whether ``exc`` is worth retrying; unknown exceptions count as transient."""
    if isinstance(exc, KbridgeError):
        return exc.retriable
    return True
