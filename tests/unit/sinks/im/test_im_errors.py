"""Platform answers mapped to retriable, backpressure or fatal errors."""

from __future__ import annotations

import aiosmtplib
import httpx
import pytest

from processor.errors import BackpressureError, FatalError, RetriableError
from processor.sinks.http.status import retry_after
from processor.sinks.im import dingtalk, email, feishu, wecom
from processor.sinks.im.webhook import status_error


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
    ("status", "kind", "code"),
    [
        (429, BackpressureError, "http-429"),
        # 503 with Retry-After is backpressure on every HTTP sink: RFC 9110 section 10.2.3
        # (https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3) says the header tells how
        # long the service expects to be unavailable. The IM sinks used to ignore it on a
        # 503 while the webhook sink honoured it (issue 20 item 3): one table now.
        (503, BackpressureError, "http-503"),
        (500, RetriableError, "http-500"),
        (408, RetriableError, "http-408"),
        (400, FatalError, "http-400"),
        # 401/403 are "auth" on every HTTP sink (the webhook sink's code; IM said http-403).
        (403, FatalError, "auth"),
        (404, FatalError, "http-404"),
        (410, FatalError, "http-410"),
    ],
)
def test_http_statuses(status: int, kind: type[Exception], code: str) -> None:
    response = httpx.Response(
        status,
        text="invalid_payload",
        headers={"Retry-After": "7"},
        request=httpx.Request("POST", "https://hooks.slack.test/services/T/B/secret"),
    )
    error = status_error(response, "Slack", now=0.0)
    assert type(error) is kind
    assert error.code == code
    assert "invalid_payload" in str(error) and "Slack" in str(error)
    assert "secret" not in str(error)  # never the URL: it carries the token
    if kind is BackpressureError:
        assert isinstance(error, BackpressureError) and error.retry_after == 7.0


def test_503_without_retry_after_is_plainly_retriable() -> None:
    response = httpx.Response(503, request=httpx.Request("POST", "https://x.test/"))
    error = status_error(response, "WeCom", now=0.0)
    assert type(error) is RetriableError


def test_unexpected_2xx_is_not_a_delivery() -> None:
    response = httpx.Response(204, request=httpx.Request("POST", "https://x.test/"))
    error = status_error(response, "Slack", now=0.0)
    assert type(error) is FatalError and error.code == "slack-unexpected"


def test_retry_after_http_date() -> None:
    # RFC 9110 section 10.2.3: delta-seconds or an HTTP-date.
    assert retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert retry_after("Wed, 21 Oct 2015 07:28:30 -0000", now=1445412480.0) == 30.0
    assert retry_after(None, now=0.0) is None
    assert retry_after("soon", now=0.0) is None
    assert retry_after("inf", now=0.0) is None
    assert retry_after("nan", now=0.0) is None
    assert retry_after("-5", now=0.0) == 0.0


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
