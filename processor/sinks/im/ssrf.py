"""SSRF guard: IM sinks post to URLs from configuration, which must not reach inside the network.

A webhook URL (or SMTP host) that resolves to a loopback, private, link-local, multicast,
reserved or unspecified address is refused unless the target sets
``allow_private_network: true`` (tests, the demo, an on-premises mail relay). Every address the
name resolves to is checked, so a name with one public and one private record is refused.

Limit: the check resolves the name before httpx does, so a DNS answer that changes between the
two (rebinding) is not caught; pinning the resolved address in the transport would close that.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from processor.errors import FatalError, RetriableError


class SsrfRefused(FatalError):
    """The destination is inside the network and the target does not allow that."""

    code = "ssrf-refused"


def is_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` is anything but a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


async def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address ``host`` resolves to (a literal address resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RetriableError(f"cannot resolve {host}: {exc}", code="dns") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_host(host: str, port: int, *, allow_private_network: bool) -> None:
    """Raise :class:`SsrfRefused` if ``host`` reaches a non-public address, unless allowed."""
    if allow_private_network:
        return
    for address in await resolve(host, port):
        if is_private(address):
            raise SsrfRefused(
                f"destination host {host} resolves to non-public address {address}; "
                "set allow_private_network: true on the target to allow it"
            )


async def check_url(url: str, *, allow_private_network: bool) -> None:
    """Check an http(s) URL's scheme and host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FatalError(f"not an http(s) URL: {redact_url(url)}", code="bad-url")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    await check_host(parts.hostname, port, allow_private_network=allow_private_network)


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: webhook URLs carry their token in the path or query."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return f"{parts.scheme}://{netloc}/…"
