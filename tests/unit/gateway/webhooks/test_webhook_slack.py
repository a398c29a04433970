"""Slack: the official v0 vector, replay window, url_verification, event mapping."""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest

from processor.config.sources import SlackSource
from processor.gateway.webhooks import (
    WebhookAuthError,
    WebhookPayloadError,
    WebhookReplayError,
    WebhookRequest,
)
from processor.gateway.webhooks.slack import SlackConnector, slack_signature

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TS = "1531420618"
BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
    b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
    b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    b"%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
    b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
OFFICIAL_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
FORM = "application/x-www-form-urlencoded"


def connector(tolerance: int = 300) -> SlackConnector:
    return SlackConnector(
        SlackSource(name="slack", bus="saas", secret=SECRET, tolerance_seconds=tolerance)
    )


def signed(body: bytes, ts: str = TS, content_type: str = "application/json") -> WebhookRequest:
    return WebhookRequest.build(
        body,
        {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": slack_signature(SECRET.encode(), ts, body),
        },
    )


def test_official_vector() -> None:
    assert slack_signature(SECRET.encode(), TS, BODY) == OFFICIAL_SIG
    request = WebhookRequest.build(
        BODY, {"X-Slack-Request-Timestamp": TS, "X-Slack-Signature": OFFICIAL_SIG}
    )
    connector().verify(request, now=float(TS) + 299)


def test_official_vector_replayed_later_is_rejected() -> None:
    request = WebhookRequest.build(
        BODY, {"X-Slack-Request-Timestamp": TS, "X-Slack-Signature": OFFICIAL_SIG}
    )
    with pytest.raises(WebhookReplayError, match="replay"):
        connector().verify(request, now=float(TS) + 301)


def test_tolerance_is_configurable() -> None:
    request = signed(BODY)
    connector(tolerance=3600).verify(request, now=float(TS) + 3000)


def test_signature_binds_the_timestamp() -> None:
    # The official signature with a fresh timestamp: a replay attempt with a moved clock.
    request = WebhookRequest.build(
        BODY, {"X-Slack-Request-Timestamp": "1531420900", "X-Slack-Signature": OFFICIAL_SIG}
    )
    with pytest.raises(WebhookAuthError, match="does not match"):
        connector().verify(request, now=1531420900.0)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Signature": OFFICIAL_SIG},
        {"X-Slack-Request-Timestamp": TS},
        {"X-Slack-Request-Timestamp": TS, "X-Slack-Signature": OFFICIAL_SIG[:-1] + "0"},
        {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": OFFICIAL_SIG},
    ],
)
def test_rejections(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookAuthError):
        connector().verify(WebhookRequest.build(BODY, headers), now=float(TS))


def test_url_verification_answers_the_challenge() -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = orjson.dumps({"token": "t", "challenge": challenge, "type": "url_verification"})
    request = signed(body)
    connector().verify(request, now=float(TS))
    answer = connector().handshake(request)
    assert answer is not None
    assert answer.status == 200
    assert orjson.loads(answer.body) == {"challenge": challenge}


def test_event_callback_maps_to_cloudevent() -> None:
    payload = {
        "token": "legacy-verification-token",
        "team_id": "T123ABC456",
        "api_app_id": "A123ABC456",
        "event": {"type": "app_mention", "channel": "C123ABC456", "text": "<@U0LAN0Z89> hi"},
        "type": "event_callback",
        "event_id": "Ev123ABC456",
        "event_time": 1515449522,
    }
    request = signed(orjson.dumps(payload))
    assert connector().handshake(request) is None
    [event] = connector().to_events(request)
    assert event.source == "saas.slack"
    assert event.type == "app_mention"
    assert event.id == "Ev123ABC456"
    assert event.subject == "C123ABC456"
    assert event.time == "2018-01-08T22:12:02Z"
    assert "token" not in event.data
    assert event.data["event"]["text"] == "<@U0LAN0Z89> hi"


def test_official_slash_command_maps_to_cloudevent() -> None:
    request = signed(BODY, content_type=FORM)
    assert connector().handshake(request) is None
    [event] = connector().to_events(request)
    assert event.type == "slash_command"
    assert event.id == "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    assert event.subject == "G8PSS9T3V"
    assert event.data["command"] == "/webhook-collect"
    assert event.data["text"] == ""
    assert "token" not in event.data


def test_interactivity_payload() -> None:
    payload = {
        "type": "block_actions",
        "token": "legacy",
        "trigger_id": "12466734323.1395872398",
        "team": {"id": "T0CAG"},
        "channel": {"id": "C0CAG"},
        "actions": [{"action_id": "approve"}],
    }
    body = ("payload=" + quote(orjson.dumps(payload).decode())).encode()
    [event] = connector().to_events(signed(body, content_type=FORM))
    assert event.type == "block_actions"
    assert event.id == "12466734323.1395872398"
    assert event.subject == "C0CAG"
    assert "token" not in event.data


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{", "application/json"),
        (orjson.dumps({"type": "event_callback", "event": {"type": "x"}}), "application/json"),
        (orjson.dumps({"type": "event_callback", "event_id": "Ev1"}), "application/json"),
        (orjson.dumps({"no": "type"}), "application/json"),
        (b"a=b", FORM),
        (b"payload=%7B", FORM),
    ],
)
def test_malformed_payloads(body: bytes, content_type: str) -> None:
    with pytest.raises(WebhookPayloadError):
        connector().to_events(signed(body, content_type=content_type))


def test_ssl_check_probe_gets_a_bare_200() -> None:
    request = signed(b"ssl_check=1&token=legacy", content_type=FORM)
    connector().verify(request, now=float(TS))
    answer = connector().handshake(request)
    assert answer is not None
    assert (answer.status, answer.body) == (200, b"")
