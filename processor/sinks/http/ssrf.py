"""Server-side request forgery guard for user-configured destinations.

A target URL comes from configuration that may be written through the management API, so
kbridge must not become a way to reach the metadata service (169.254.169.254), the
loopback interface or the private network it runs in. Every address the host name resolves
to must be public; targets opt out with ``allow_private_network: true`` (tests, the demo,
on-premises destinations).

The check resolves the name itself; a DNS answer that changes between this check and
httpx's own resolution (rebinding) is not covered.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from processor.errors import FatalError, RetriableError


class SsrfRefused(FatalError):
    """The destination resolves to an address kbridge refuses to call."""

    code = "ssrf-refused"


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` is globally routable (not private, loopback, link-local, ...)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RetriableError(f"cannot resolve {host}: {exc}", code="dns") from exc
    return sorted({str(info[4][0]) for info in infos})


async def check_host(
    host: str, port: int, *, allow_private_network: bool, action: str = "call"
) -> None:
    """Raise :class:`SsrfRefused` if ``host`` reaches a non-public address, unless allowed.

    ``action`` completes the refusal: ``"refusing to <action> <host> (<address>): ..."``.
    """
    if allow_private_network:
        return
    for address in await resolve(host, port):
        if not is_public(ipaddress.ip_address(address.split("%")[0])):
            raise SsrfRefused(
                f"refusing to {action} {host} ({address}): private, loopback or "
                "link-local address; set allow_private_network: true on the target to allow it"
            )


async def check_url(url: str, *, allow_private_network: bool) -> None:
    """Raise :class:`SsrfRefused` unless ``url`` only reaches public addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SsrfRefused(f"refusing non-HTTP URL {parts.scheme}://{parts.hostname}")
    if allow_private_network:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    await check_host(parts.hostname, port, allow_private_network=False)
