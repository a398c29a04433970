"""What of a destination URL may reach a log line or an error message.

A webhook URL is often the credential itself (DingTalk ``access_token``, WeCom ``key``, the
Slack and Feishu paths; a signed DingTalk URL also carries ``sign``), so only
``scheme://host:port/…`` is ever logged. httpx logs every request's full URL at INFO;
:func:`redact_httpx_logs` installs a filter that cuts those too.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: the path and query may carry a token."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return f"{parts.scheme}://{netloc}/…"


class RedactUrls(logging.Filter):
    """Redact URLs in httpx's own log records (``HTTP Request: POST <url> ...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, httpx.URL) for arg in record.args
        ):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


def redact_httpx_logs() -> None:
    """Install :class:`RedactUrls` on the ``httpx`` logger (once per process)."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactUrls) for f in httpx_logger.filters):
        httpx_logger.addFilter(RedactUrls())
