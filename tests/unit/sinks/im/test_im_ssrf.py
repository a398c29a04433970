"""The SSRF guard."""

from __future__ import annotations

import ipaddress

import pytest

from processor.errors import FatalError
from processor.sinks.im.ssrf import SsrfRefused, check_url, is_private, redact_url


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.1",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert is_private(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "::ffff:1.1.1.1"])
def test_public_addresses(address: str) -> None:
    assert not is_private(ipaddress.ip_address(address))


async def test_loopback_refused_unless_allowed() -> None:
    with pytest.raises(SsrfRefused) as info:
        await check_url("http://127.0.0.1:8080/hook?key=secret", allow_private_network=False)
    assert "secret" not in str(info.value)
    assert not info.value.retriable
    await check_url("http://127.0.0.1:8080/hook", allow_private_network=True)


async def test_names_are_resolved_before_checking() -> None:
    with pytest.raises(SsrfRefused):
        await check_url("http://localhost/x", allow_private_network=False)


async def test_public_literal_passes() -> None:
    await check_url("https://8.8.8.8/hook", allow_private_network=False)


async def test_non_http_schemes_are_refused() -> None:
    with pytest.raises(FatalError):
        await check_url("file:///etc/passwd", allow_private_network=True)


def test_redact_url_drops_tokens() -> None:
    assert (
        redact_url("https://oapi.dingtalk.com/robot/send?access_token=abc")
        == "https://oapi.dingtalk.com/…"
    )
    assert redact_url("http://127.0.0.1:9000/hook/xyz") == "http://127.0.0.1:9000/…"
