"""Generic HMAC and token-in-URL sources: configurable signing, allowlists, mapping."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from processor.config.sources import HmacSource, TokenSource
from processor.errors import ConfigError
from processor.gateway.webhooks import (
    WebhookAuthError,
    WebhookForbiddenError,
    WebhookPayloadError,
    WebhookReplayError,
    WebhookRequest,
    build_connector,
)
from processor.gateway.webhooks.hmac_source import HmacConnector
from processor.gateway.webhooks.token_source import TokenConnector

SECRET = "s3cret"
TOKEN = "tok-0123456789abcdef"
ANSWER = {
    "id": "8f2c6c1e-2b1a-4e0c-9a8e-1f8e6f7d9b10",
    "object": "Answer",
    "action": "answer.create",
    "created_at": "2021-01-26 14:00:00",
    "payload": {"survey_id": 1024, "answer_id": 77, "respondent_id": "r-1"},
}


def hmac_connector(**fields: Any) -> HmacConnector:
    return HmacConnector(
        HmacSource(name="forms", bus="saas", platform="questionnaire", secret=SECRET, **fields)
    )


def test_default_hex_sha256_over_the_body() -> None:
    body = orjson.dumps(ANSWER)
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    hmac_connector().verify(WebhookRequest.build(body, {"X-Signature": sig}), 0.0)
    hmac_connector().verify(WebhookRequest.build(body, {"X-Signature": sig.upper()}), 0.0)
    with pytest.raises(WebhookAuthError):
        hmac_connector().verify(WebhookRequest.build(body + b" ", {"X-Signature": sig}), 0.0)


def test_header_prefix_algorithm_and_base64() -> None:
    body = b'{"a":1}'
    digest = hmac.new(SECRET.encode(), body, hashlib.sha1).digest()
    sig = "sha1=" + base64.b64encode(digest).decode()
    c = hmac_connector(header="X-Hook-Sig", prefix="sha1=", algorithm="sha1", encoding="base64")
    c.verify(WebhookRequest.build(body, {"x-hook-sig": sig}), 0.0)
    with pytest.raises(WebhookAuthError, match="X-Hook-Sig"):
        c.verify(WebhookRequest.build(body, {"x-hook-sig": sig.removeprefix("sha1=")}), 0.0)
    with pytest.raises(WebhookAuthError, match="missing header X-Hook-Sig"):
        c.verify(WebhookRequest.build(body, {"X-Signature": sig}), 0.0)


def test_signed_timestamp_and_replay_window() -> None:
    body = b'{"a":1}'
    ts = "1700000000000"  # milliseconds
    sig = hmac.new(SECRET.encode(), f"{ts}:".encode() + body, hashlib.sha256).hexdigest()
    c = hmac_connector(timestamp_header="X-Ts", timestamp_separator=":")
    request = WebhookRequest.build(body, {"X-Signature": sig, "X-Ts": ts})
    c.verify(request, 1_700_000_100.0)
    with pytest.raises(WebhookReplayError, match="replay"):
        c.verify(request, 1_700_000_301.0)
    with pytest.raises(WebhookAuthError, match="missing header X-Ts"):
        c.verify(WebhookRequest.build(body, {"X-Signature": sig}), 1_700_000_000.0)


def test_hmac_maps_with_configured_fields() -> None:
    c = hmac_connector(id_field="id", event_type_field="action", subject_field="payload.survey_id")
    [event] = c.to_events(WebhookRequest.build(orjson.dumps(ANSWER)))
    assert event.source == "saas.questionnaire"
    assert event.type == "answer.create"
    assert event.id == ANSWER["id"]
    assert event.subject == "1024"
    assert event.data == ANSWER


def test_hmac_maps_from_headers_and_defaults() -> None:
    c = hmac_connector(id_header="X-Delivery", event_type_header="X-Event")
    request = WebhookRequest.build(b'{"x":1}', {"X-Delivery": "d-1", "X-Event": "form.submit"})
    [event] = c.to_events(request)
    assert (event.id, event.type) == ("d-1", "form.submit")
    with pytest.raises(WebhookPayloadError, match="X-Delivery"):
        c.to_events(WebhookRequest.build(b'{"x":1}', {"X-Event": "e"}))


def test_without_an_id_the_body_digest_deduplicates_retries() -> None:
    c = hmac_connector(event_type="submission")
    [a] = c.to_events(WebhookRequest.build(b'{"x":1}'))
    [b] = c.to_events(WebhookRequest.build(b'{"x":1}'))
    [other] = c.to_events(WebhookRequest.build(b'{"x":2}'))
    assert a.type == "submission"
    assert a.id == b.id != other.id


def test_form_bodies_become_objects() -> None:
    request = WebhookRequest.build(
        b"activity=123&joinid=9&q1=yes",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    [event] = hmac_connector(id_field="joinid").to_events(request)
    assert event.id == "9"
    assert event.data == {"activity": "123", "joinid": "9", "q1": "yes"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [(b"<xml/>", {}), (b'{"action": 5}', {"event_type_field": "nested.action"})],
)
def test_generic_malformed(body: bytes, fields: dict[str, str]) -> None:
    with pytest.raises(WebhookPayloadError):
        hmac_connector(**fields).to_events(WebhookRequest.build(body))


def token_connector(**fields: Any) -> TokenConnector:
    return TokenConnector(
        TokenSource(name="wj", bus="saas", platform="questionnaire", token=TOKEN, **fields)
    )


def test_token_in_path() -> None:
    body = orjson.dumps(ANSWER)
    token_connector().verify(WebhookRequest.build(body, path_token=TOKEN), 0.0)
    for wrong in (None, "", TOKEN[:-1], TOKEN + "x"):
        with pytest.raises(WebhookAuthError):
            token_connector().verify(WebhookRequest.build(body, path_token=wrong), 0.0)


def test_token_defaults_map_tencent_questionnaire() -> None:
    [event] = token_connector().to_events(WebhookRequest.build(orjson.dumps(ANSWER)))
    assert event.source == "saas.questionnaire"
    assert event.type == "answer.create"
    assert event.id == ANSWER["id"]


def test_ip_allowlist() -> None:
    c = token_connector(ip_allowlist=["203.0.113.0/24", "2001:db8::1"])
    c.verify(WebhookRequest.build(b"{}", path_token=TOKEN, client_ip="203.0.113.9"), 0.0)
    c.verify(WebhookRequest.build(b"{}", path_token=TOKEN, client_ip="2001:db8::1"), 0.0)
    for ip in ("198.51.100.1", None, "not-an-ip"):
        with pytest.raises(WebhookForbiddenError):
            c.verify(WebhookRequest.build(b"{}", path_token=TOKEN, client_ip=ip), 0.0)


def test_short_tokens_are_refused_by_the_config() -> None:
    with pytest.raises(ValidationError, match="16 characters"):
        TokenSource(name="wj", bus="saas", platform="q", token="short")


def test_build_connector_from_a_mapping_and_errors() -> None:
    connector = build_connector(
        {"name": "wj", "bus": "saas", "kind": "token", "platform": "q", "token": TOKEN}
    )
    assert isinstance(connector, TokenConnector)
    with pytest.raises(ConfigError, match="unknown webhook source kind"):
        build_connector({"name": "x", "kind": "mqtt"})
    with pytest.raises(ConfigError, match=r"'wj'.*token: Field required"):
        build_connector({"name": "wj", "bus": "saas", "kind": "token", "platform": "q"})
    with pytest.raises(ConfigError, match="16 characters") as caught:
        build_connector(
            {"name": "wj", "bus": "saas", "kind": "token", "platform": "q", "token": "leaky"}
        )
    assert "leaky" not in str(caught.value)


def test_token_defaults_fall_back_when_the_body_has_no_action() -> None:
    body = orjson.dumps({"type": "questionnaire.response", "survey_id": 7})
    [event] = token_connector().to_events(WebhookRequest.build(body))
    assert event.type == "webhook"
    assert len(event.id) == 64  # the body digest
    [explicit] = token_connector(event_type_field="type").to_events(WebhookRequest.build(body))
    assert explicit.type == "questionnaire.response"
    with pytest.raises(WebhookPayloadError, match="body has no action"):
        token_connector(event_type_field="action").to_events(WebhookRequest.build(body))
