"""The SSRF guard for every outbound connection kbridge makes to a configured destination.

Targets and sources come from configuration that may be written through the management
API, so kbridge must not become a way to reach the metadata service (169.254.169.254), the
loopback interface or the private network it runs in: not over HTTP (webhook, function, IM
robots, OAuth token endpoints), SMTP, SQL or Kafka. Every address a host name resolves to
must be public; a target or source opts out with ``allow_private_network: true`` (tests, the
demo, on-premises destinations).

:func:`checked_addresses` resolves once and returns the addresses it vetted, so callers
connect to exactly those (the HTTP stack, SMTP and SQL pin them; a DNS answer that changes
after the check, the rebinding trick, cannot redirect the connection). Kafka clients resolve
broker names themselves (librdkafka has no resolver hook), so for Kafka the check covers the
bootstrap servers and the brokers' advertised addresses, not a pinned connection.
:func:`literal_refusal` is the configuration-time half: it refuses IP literals without any
DNS lookup (``kbridge validate`` and ``apply``).

Pure networking: this module imports nothing of kbridge but the error hierarchy, so the
config checks, the sinks and the sources share it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

from processor.errors import FatalError, RetriableError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

HINT = "set allow_private_network: true on the target to allow it"
METADATA_ADDRESSES = frozenset({"169.254.169.254", "fd00:ec2::254", "100.100.100.200"})
"""Cloud metadata services (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba): named in refusals."""


class SsrfRefused(FatalError):
    """The destination resolves to an address kbridge refuses to reach.

    Not retriable: the same configuration reaches the same address next time, so the
    record is dead-lettered with this error rather than retried forever.
    """

    code = "ssrf-refused"


def _plain(address: str) -> Address:
    return ipaddress.ip_address(address.split("%", 1)[0])


def is_public(address: Address) -> bool:
    """Whether ``address`` is globally routable (not private, loopback, link-local, ...)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if str(address) in METADATA_ADDRESSES:
        return False
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def describe_address(address: Address) -> str:
    """What kind of non-public address ``address`` is, for messages."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if str(address) in METADATA_ADDRESSES:
        return "the cloud metadata service"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    return "a non-public address"


def ip_literal(host: str) -> Address | None:
    """``host`` as an IP address when it is one (``[::1]`` brackets allowed), else ``None``."""
    try:
        return _plain(host.strip("[]"))
    except ValueError:
        return None


def literal_refusal(host: str) -> str | None:
    """Why ``host`` is refused without a DNS lookup (an IP literal that is not public), or
    ``None`` when only resolving can tell (names such as ``localhost`` are resolved)."""
    address = ip_literal(host.strip())
    if address is not None and not is_public(address):
        return f"{host} is {describe_address(address)}"
    return None


def private_name_warning(host: str, port: int) -> str | None:
    """Why ``host`` (a name, not a literal) would be refused now: it resolves to a
    non-public address. ``None`` when it resolves publicly, or does not resolve at all
    (configuration is often validated where the destination's DNS is not visible)."""
    if ip_literal(host.strip()) is not None:
        return None
    try:
        addresses = resolve_sync(host, port)
    except RetriableError:
        return None
    for address in addresses:
        parsed = _plain(address)
        if not is_public(parsed):
            return f"{host} resolves to {address}, {describe_address(parsed)}"
    return None


def _addresses(infos: Iterable[tuple[Any, ...]]) -> list[str]:
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in resolver order (an IP literal is itself)."""
    literal = ip_literal(host)
    if literal is not None:
        return [str(literal)]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RetriableError(f"cannot resolve {host}: {exc}", code="dns") from exc
    return _addresses(infos)


def resolve_sync(host: str, port: int) -> list[str]:
    """:func:`resolve` for blocking code (database drivers connecting in a thread)."""
    literal = ip_literal(host)
    if literal is not None:
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RetriableError(f"cannot resolve {host}: {exc}", code="dns") from exc
    return _addresses(infos)


def vet(host: str, addresses: list[str], *, allow_private_network: bool, action: str) -> None:
    """Raise :class:`SsrfRefused` if any of ``host``'s ``addresses`` is not public."""
    if allow_private_network:
        return
    for address in addresses:
        parsed = _plain(address)
        if not is_public(parsed):
            raise SsrfRefused(
                f"refusing to {action} {host} ({address}): {describe_address(parsed)}; {HINT}"
            )


async def checked_addresses(
    host: str, port: int, *, allow_private_network: bool, action: str = "connect to"
) -> list[str]:
    """The addresses of ``host`` to connect to, every one vetted; raise :class:`SsrfRefused`
    when any is not public (unless allowed). ``action`` completes the refusal message:
    ``"refusing to <action> <host> (<address>): ..."``."""
    addresses = await resolve(host, port)
    vet(host, addresses, allow_private_network=allow_private_network, action=action)
    return addresses


def checked_addresses_sync(
    host: str, port: int, *, allow_private_network: bool, action: str = "connect to"
) -> list[str]:
    """:func:`checked_addresses` for blocking code."""
    addresses = resolve_sync(host, port)
    vet(host, addresses, allow_private_network=allow_private_network, action=action)
    return addresses


async def check_host(
    host: str, port: int, *, allow_private_network: bool, action: str = "connect to"
) -> None:
    """Raise :class:`SsrfRefused` if ``host`` reaches a non-public address, unless allowed."""
    if not allow_private_network:
        await checked_addresses(host, port, allow_private_network=False, action=action)


async def check_servers(
    servers: str, *, default_port: int, allow_private_network: bool, action: str
) -> None:
    """:func:`check_host` for each of a comma-separated ``host:port`` list (Kafka bootstrap)."""
    if allow_private_network:
        return
    for server in servers.split(","):
        host, port = split_host_port(server, default_port)
        if host:
            await check_host(host, port, allow_private_network=False, action=action)


def split_host_port(server: str, default_port: int) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or a bare host as ``(host, port)``."""
    server = server.strip()
    if "://" in server:  # SASL_SSL://host:port style listener prefixes
        server = server.split("://", 1)[1]
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        port = rest.lstrip(":")
    elif server.count(":") == 1:
        host, _, port = server.partition(":")
    else:
        host, port = server, ""
    try:
        return host, int(port) if port else default_port
    except ValueError:
        return host, default_port
