"""HTTP building blocks: status mapping, Retry-After, signatures, binding, SSRF, rate limit."""

from __future__ import annotations

import time

import httpcore
import httpx
import orjson
import pytest

from processor.clock import ManualClock
from processor.errors import BackpressureError, FatalError, RetriableError
from processor.sinks.base import Delivery
from processor.sinks.http import signing
from processor.sinks.http.binding import encode
from processor.sinks.http.ratelimit import RateLimiter, Window, destination, windows_for_rate
from processor.sinks.http.ssrf import SsrfRefused, check_url
from processor.sinks.http.status import outcome, retry_after, transport_error


def _response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, headers=headers, text="nope", request=httpx.Request("POST", "http://x.test/")
    )


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (500, RetriableError, "http-500"),
        (502, RetriableError, "http-502"),
        (408, RetriableError, "http-408"),
        (429, BackpressureError, "http-429"),
        (400, FatalError, "http-400"),
        (404, FatalError, "http-404"),
        (401, FatalError, "auth"),
        (403, FatalError, "auth"),
        (302, FatalError, "http-302"),
    ],
)
def test_non_2xx_statuses(status: int, kind: type, code: str) -> None:
    error = outcome(_response(status))
    assert isinstance(error, kind) and error.code == code


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_success(status: int) -> None:
    assert outcome(_response(status)) is None


def test_retry_after_seconds_and_date() -> None:
    error = outcome(_response(429, **{"Retry-After": "3"}))
    assert isinstance(error, BackpressureError) and error.retry_after == 3.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 10) == 10.0
    assert retry_after("soon") is None


def test_signature_roundtrip_and_tamper() -> None:
    now = int(time.time())
    header = signing.sign("s3cret", b'{"a":1}', now)
    assert header.startswith(f"t={now},v1=")
    assert signing.verify("s3cret", b'{"a":1}', header)
    assert not signing.verify("s3cret", b'{"a":2}', header)
    assert not signing.verify("other", b'{"a":1}', header)
    assert not signing.verify("s3cret", b'{"a":1}', signing.sign("s3cret", b'{"a":1}', now - 900))


def _delivery() -> Delivery:
    headers = {
        "ce_id": "id-1",
        "ce_source": "saas.test",
        "ce_type": "t.created",
        "ce_subject": "zürich",
        "ce_specversion": "1.0",
        "content-type": "application/json",
        "kbridge-rule": "r",
    }
    return Delivery(value=b'{"x": 1}', headers=headers)


def test_binary_binding_maps_ce_headers() -> None:
    headers, body = encode(_delivery(), "binary")
    assert body == b'{"x": 1}'
    assert headers["ce-id"] == "id-1" and headers["ce-type"] == "t.created"
    assert headers["ce-subject"] == "z%C3%BCrich"
    assert headers["Content-Type"] == "application/json"
    assert "kbridge-rule" not in headers


def test_structured_binding_embeds_json_data() -> None:
    headers, body = encode(_delivery(), "structured")
    assert headers["Content-Type"].startswith("application/cloudevents+json")
    doc = orjson.loads(body)
    assert doc["id"] == "id-1" and doc["data"] == {"x": 1} and doc["specversion"] == "1.0"


def test_raw_binding_sends_payload_only() -> None:
    headers, body = encode(_delivery(), "raw")
    assert body == b'{"x": 1}' and set(headers) == {"Content-Type"}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://localhost:9/",
        "file:///etc/passwd",
    ],
)
async def test_ssrf_guard_refuses_private_destinations(url: str) -> None:
    with pytest.raises(SsrfRefused):
        await check_url(url, allow_private_network=False)


async def test_ssrf_guard_allows_public_and_opt_in() -> None:
    await check_url("https://8.8.8.8/hook", allow_private_network=False)
    await check_url("http://127.0.0.1:8080/", allow_private_network=True)


async def test_rate_limit_queues_instead_of_dropping() -> None:
    # One limiter for every HTTP sink (issue 20 item 3): the webhook's rate_limit=20/s is a
    # window of 20 sends per second; waiting callers are queued, never failed.
    clock = ManualClock()
    limiter = RateLimiter(windows_for_rate(20.0), clock=clock)
    for _ in range(25):
        assert await limiter.acquire() == 0.0
    assert 0.99 <= clock.monotonic() < 1.01  # the 21st send waited for the window


@pytest.mark.parametrize(
    ("rate", "windows"),
    [
        (20.0, [Window(20, 1.0)]),
        (1.0, [Window(1, 1.0)]),
        (0.5, [Window(1, 2.0)]),
        (2.5, [Window(1, 0.4)]),
    ],
)
def test_rate_per_second_as_windows(rate: float, windows: list[Window]) -> None:
    assert windows_for_rate(rate) == windows


def test_destination_key() -> None:
    assert destination("https://api.example.com/x?y") == "https://api.example.com:443"
    assert destination("http://h:81/") == "http://h:81"


def test_503_with_retry_after_is_backpressure_without_it_retriable() -> None:
    # One table for every HTTP sink (issue 20.3); RFC 9110 section 10.2.3 defines
    # Retry-After on 503 as well as on 429.
    error = outcome(_response(503, **{"Retry-After": "4"}))
    assert isinstance(error, BackpressureError) and error.retry_after == 4.0
    plain = outcome(_response(503))
    assert type(plain) is RetriableError and plain.code == "http-503"


def test_outcome_names_who_never_the_url() -> None:
    request = httpx.Request("POST", "https://hooks.slack.test/services/T/B/token-123")
    error = outcome(httpx.Response(404, text="no_service", request=request), who="Slack")
    assert str(error) == "HTTP 404 from Slack: no_service"


def test_transport_errors_keep_urls_out_of_messages() -> None:
    request = httpx.Request("POST", "https://oapi.test/robot/send?access_token=tok-9")
    refused = transport_error(
        httpx.ConnectError(
            "failed to reach https://oapi.test/robot/send?access_token=tok-9", request=request
        ),
        "DingTalk https://oapi.test/…",
    )
    assert refused.code == "connection" and refused.retriable
    assert "tok-9" not in str(refused) and "https://…" in str(refused)
    timeout = transport_error(httpx.ReadTimeout("slow", request=request), "hook.test")
    assert timeout.code == "timeout" and str(timeout) == "hook.test timed out (ReadTimeout)"


async def test_guarded_backend_refuses_unix_sockets_and_private_names() -> None:
    from processor.sinks.http.ssrf import GuardedBackend

    backend = GuardedBackend(allow_private_network=False)
    with pytest.raises(SsrfRefused):
        await backend.connect_unix_socket("/var/run/docker.sock")
    with pytest.raises(SsrfRefused, match="refusing to call localhost"):
        await backend.connect_tcp("localhost", 9)
    # an allowed token endpoint host (its connection's allow_private_network) only
    allowing = GuardedBackend(allow_private_network=False, private_hosts=["localhost"])
    with pytest.raises(httpcore.ConnectError):  # vetted, then connected: nothing listens
        await allowing.connect_tcp("localhost", 9)
