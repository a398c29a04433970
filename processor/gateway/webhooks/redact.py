"""Keep webhook URL tokens out of access logs.

Token-authenticated sources (``/v1/webhooks/<name>/<token>``) carry their only secret in the
path, and uvicorn's access log prints paths. :class:`WebhookTokenFilter` rewrites such
paths to ``/v1/webhooks/<name>/***`` in any log record it sees; the gateway installs it on
the ``uvicorn.access`` logger (``install_token_filter()``).
"""

from __future__ import annotations

import logging
import re

_TOKEN_PATH = re.compile(r"(/v1/webhooks/[^/?#\s\"]+/)[^/?#\s\"]+")


def redact_path(text: str) -> str:
    """``text`` with the token segment of every webhook path replaced by ``***``."""
    return _TOKEN_PATH.sub(r"\1***", text)


class WebhookTokenFilter(logging.Filter):
    """Redacts webhook tokens in a record's message and string arguments; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_path(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_path(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def install_token_filter(logger_name: str = "uvicorn.access") -> WebhookTokenFilter:
    """Attach the filter to ``logger_name`` (idempotent) and return it."""
    logger = logging.getLogger(logger_name)
    for existing in logger.filters:
        if isinstance(existing, WebhookTokenFilter):
            return existing
    token_filter = WebhookTokenFilter()
    logger.addFilter(token_filter)
    return token_filter
