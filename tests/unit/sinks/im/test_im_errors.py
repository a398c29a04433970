"""Platform answers mapped to retriable, backpressure or fatal errors."""

from __future__ import annotations

import aiosmtplib
import httpx
import pytest

from processor.errors import BackpressureError, FatalError, RetriableError
from processor.sinks.im import dingtalk, email, feishu, wecom
from processor.sinks.im.webhook import http_status_error, retry_after_seconds


@pytest.mark.parametrize(
    ("errcode", "kind", "retry_after"),
    [
        (410100, BackpressureError, 600.0),
        (130101, BackpressureError, 60.0),
        (-1, RetriableError, None),
        (310000, FatalError, None),
        (400102, FatalError, None),
        (430101, FatalError, None),
        (999999, FatalError, None),
    ],
)
def test_dingtalk_codes(errcode: int, kind: type[Exception], retry_after: float | None) -> None:
    error = dingtalk.error_for(errcode, "msg")
    assert type(error) is kind
    assert error.code == f"dingtalk-{errcode}"
    assert getattr(error, "retry_after", None) == retry_after


@pytest.mark.parametrize(
    ("errcode", "retriable", "backpressure"),
    [(45009, True, True), (-1, True, False), (93000, False, False), (40008, False, False)],
)
def test_wecom_codes(errcode: int, retriable: bool, backpressure: bool) -> None:
    error = wecom.error_for(errcode, "msg")
    assert error.retriable is retriable
    assert isinstance(error, BackpressureError) is backpressure


@pytest.mark.parametrize(
    ("code", "retriable"), [(19021, False), (19024, False), (9499, False), (11232, True)]
)
def test_feishu_codes(code: int, retriable: bool) -> None:
    assert feishu.error_for(code, "msg").retriable is retriable


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, BackpressureError),
        (500, RetriableError),
        (503, RetriableError),
        (408, RetriableError),
        (400, FatalError),
        (403, FatalError),
        (404, FatalError),
        (410, FatalError),
    ],
)
def test_http_statuses(status: int, kind: type[Exception]) -> None:
    response = httpx.Response(status, text="invalid_payload", headers={"Retry-After": "7"})
    error = http_status_error(response, "Slack", now=0.0)
    assert type(error) is kind
    assert "invalid_payload" in str(error)
    if kind is BackpressureError:
        assert isinstance(error, BackpressureError) and error.retry_after == 7.0


def test_retry_after_http_date() -> None:
    response = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"})
    assert retry_after_seconds(response, now=1445412480.0) == 30.0
    assert retry_after_seconds(httpx.Response(429), now=0.0) is None
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"}), 0.0) is None
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "inf"}), 0.0) is None
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "-5"}), 0.0) == 0.0


def test_smtp_errors() -> None:
    assert not email.error_for(aiosmtplib.SMTPAuthenticationError(535, "bad")).retriable
    assert email.error_for(aiosmtplib.SMTPResponseException(451, "later")).retriable
    assert isinstance(
        email.error_for(aiosmtplib.SMTPResponseException(421, "busy")), BackpressureError
    )
    assert not email.error_for(aiosmtplib.SMTPResponseException(554, "no")).retriable
    assert email.error_for(aiosmtplib.SMTPServerDisconnected("gone")).retriable
    assert email.error_for(ConnectionRefusedError()).retriable
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@x")]
    )
    assert not email.error_for(refused).retriable
    greylisted = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(450, "greylisted", "a@x")]
    )
    assert email.error_for(greylisted).retriable
