"""The SSRF guard (processor/netguard.py) as the IM sinks use it: webhook URLs and SMTP hosts."""

from __future__ import annotations

import pytest

from processor.netguard import SsrfRefused, check_host
from processor.sinks.http.redact import redact_url
from processor.sinks.http.ssrf import check_url


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "::ffff:127.0.0.1", "localhost"]
)
async def test_smtp_hosts_inside_the_network_are_refused(host: str) -> None:
    with pytest.raises(SsrfRefused):
        await check_host(host, 25, allow_private_network=False)
    await check_host(host, 25, allow_private_network=True)


async def test_public_smtp_host_passes() -> None:
    await check_host("8.8.8.8", 25, allow_private_network=False)


async def test_loopback_webhook_refused_unless_allowed() -> None:
    with pytest.raises(SsrfRefused) as info:
        await check_url("http://127.0.0.1:8080/hook?key=secret", allow_private_network=False)
    assert "secret" not in str(info.value)
    assert not info.value.retriable
    await check_url("http://127.0.0.1:8080/hook", allow_private_network=True)


async def test_public_literal_passes() -> None:
    await check_url("https://8.8.8.8/hook", allow_private_network=False)


async def test_non_http_schemes_are_refused() -> None:
    with pytest.raises(SsrfRefused):
        await check_url("file:///etc/passwd", allow_private_network=True)


def test_redact_url_drops_tokens() -> None:
    assert (
        redact_url("https://oapi.dingtalk.com/robot/send?access_token=abc")
        == "https://oapi.dingtalk.com/…"
    )
    assert redact_url("http://127.0.0.1:9000/hook/xyz") == "http://127.0.0.1:9000/…"
