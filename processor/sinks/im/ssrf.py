"""The SSRF guard as the IM sinks use it, over :mod:`processor.sinks.http.ssrf`.

Webhook URLs are checked with the shared :func:`~processor.sinks.http.ssrf.check_url`;
email uses :func:`check_host` for a bare SMTP host (the shared
:func:`~processor.sinks.http.ssrf.check_host`, refusing to "connect to" rather than "call").
``allow_private_network: true`` on the target lifts the guard (loopback and private
addresses: tests, the demo, on-premises relays).
:func:`redact_url` is what may appear in logs and errors: webhook URLs carry their token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from processor.sinks.http import ssrf as http_ssrf
from processor.sinks.http.ssrf import SsrfRefused, check_url

__all__ = ["SsrfRefused", "check_host", "check_url", "redact_url"]


async def check_host(host: str, port: int, *, allow_private_network: bool) -> None:
    """Raise :class:`SsrfRefused` if ``host`` reaches a non-public address, unless allowed."""
    await http_ssrf.check_host(
        host, port, allow_private_network=allow_private_network, action="connect to"
    )


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: webhook URLs carry their token in the path or query."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return f"{parts.scheme}://{netloc}/…"
