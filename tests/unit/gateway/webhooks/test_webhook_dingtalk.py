"""DingTalk outgoing robot: the timestamp+sign vector, one-hour window, mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from processor.config.sources import DingtalkSource
from processor.gateway.webhooks import (
    WebhookAuthError,
    WebhookPayloadError,
    WebhookReplayError,
    WebhookRequest,
)
from processor.gateway.webhooks.dingtalk import DingtalkConnector, dingtalk_signature

SECRET = "this is secret"
TS = "1577262236757"
SIGN = "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="
NOW = int(TS) / 1000

MESSAGE = {
    "msgtype": "text",
    "text": {"content": "hello robot"},
    "msgId": "XXXX",
    "createAt": 1577262236757,
    "conversationType": "2",
    "conversationId": "cidXXXX",
    "senderId": "$:LWCP_v1:$XXXX",
    "senderNick": "Zhang San",
    "isInAtList": True,
}


def connector() -> DingtalkConnector:
    return DingtalkConnector(DingtalkSource(name="ding", bus="saas", secret=SECRET))


def request(ts: str = TS, sign: str = SIGN, body: bytes | None = None) -> WebhookRequest:
    return WebhookRequest.build(
        orjson.dumps(MESSAGE) if body is None else body, {"timestamp": ts, "sign": sign}
    )


def test_vector() -> None:
    assert dingtalk_signature(SECRET, TS) == SIGN
    connector().verify(request(), NOW)


def test_url_encoded_sign_is_not_what_dingtalk_sends_here() -> None:
    with pytest.raises(WebhookAuthError, match="does not match"):
        connector().verify(request(sign="hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D"), NOW)


def test_within_an_hour_accepted_beyond_rejected() -> None:
    connector().verify(request(), NOW + 3599)
    with pytest.raises(WebhookReplayError, match="replay"):
        connector().verify(request(), NOW + 3601)


@pytest.mark.parametrize(
    "headers", [{}, {"timestamp": TS}, {"sign": SIGN}, {"timestamp": "x", "sign": SIGN}]
)
def test_missing_or_bad_headers(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookAuthError):
        connector().verify(WebhookRequest.build(b"{}", headers), NOW)


def test_maps_message() -> None:
    [event] = connector().to_events(request())
    assert event.source == "saas.dingtalk"
    assert event.type == "text"
    assert event.id == "XXXX"
    assert event.subject == "cidXXXX"
    assert event.time is not None
    assert datetime.fromisoformat(event.time) == datetime(
        2019, 12, 25, 8, 23, 56, 757000, tzinfo=UTC
    )
    assert event.data == MESSAGE


@pytest.mark.parametrize("body", [b"[]", b"{", b'{"msgtype":"text"}', b'{"msgId":"m"}'])
def test_malformed(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        connector().to_events(request(body=body))
