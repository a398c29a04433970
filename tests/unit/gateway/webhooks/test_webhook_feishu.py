"""Feishu / Lark: the official decrypt vector, encrypted challenge, signature, token."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from webhook_helpers import feishu_encrypt

from processor.config.sources import FeishuSource
from processor.gateway.webhooks import (
    WebhookAuthError,
    WebhookPayloadError,
    WebhookReplayError,
    WebhookRequest,
)
from processor.gateway.webhooks.feishu import FeishuConnector, feishu_decrypt, feishu_signature

KEY = "test key"
TOKEN = "v-token-1"
NOW = 1_700_000_000.0


def connector(
    *, encrypt_key: str | None = KEY, token: str | None = TOKEN, tolerance: int | None = 300
) -> FeishuConnector:
    return FeishuConnector(
        FeishuSource(
            name="lark",
            bus="saas",
            encrypt_key=encrypt_key,
            verification_token=token,
            tolerance_seconds=tolerance,
        )
    )


def test_official_decrypt_vector() -> None:
    assert feishu_decrypt(KEY, "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=") == b"hello world"


def test_source_needs_a_secret() -> None:
    with pytest.raises(ValidationError, match="verification_token and/or encrypt_key"):
        FeishuSource(name="lark", bus="saas")


def encrypted_body(payload: dict[str, Any], key: str = KEY) -> bytes:
    return orjson.dumps({"encrypt": feishu_encrypt(key, orjson.dumps(payload))})


def signed(body: bytes, ts: str = str(int(NOW)), nonce: str = "n0nce") -> WebhookRequest:
    return WebhookRequest.build(
        body,
        {
            "X-Lark-Request-Timestamp": ts,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": feishu_signature(ts, nonce, KEY, body),
        },
    )


CHALLENGE = {"challenge": "ajls384kdjx98XX", "token": TOKEN, "type": "url_verification"}


def test_encrypted_challenge_without_signature() -> None:
    request = WebhookRequest.build(encrypted_body(CHALLENGE))
    connector().verify(request, NOW)
    answer = connector().handshake(request)
    assert answer is not None
    assert orjson.loads(answer.body) == {"challenge": "ajls384kdjx98XX"}


def test_plain_challenge_with_token_only() -> None:
    request = WebhookRequest.build(orjson.dumps(CHALLENGE))
    c = connector(encrypt_key=None)
    c.verify(request, NOW)
    answer = c.handshake(request)
    assert answer is not None
    assert orjson.loads(answer.body)["challenge"] == "ajls384kdjx98XX"


def test_challenge_with_wrong_token_is_rejected() -> None:
    request = WebhookRequest.build(encrypted_body({**CHALLENGE, "token": "forged"}))
    with pytest.raises(WebhookAuthError, match="verification token"):
        connector().verify(request, NOW)


def test_challenge_encrypted_with_another_key_is_rejected() -> None:
    request = WebhookRequest.build(encrypted_body(CHALLENGE, key="another key"))
    with pytest.raises(WebhookAuthError):
        connector().verify(request, NOW)


V2: dict[str, Any] = {
    "schema": "2.0",
    "header": {
        "event_id": "5e3702a84e847582be8db7fb73283c02",
        "event_type": "im.message.receive_v1",
        "create_time": "1608725989000",
        "token": TOKEN,
        "app_id": "cli_a1b2",
        "tenant_key": "2ca1d211f64f6438",
    },
    "event": {"message": {"chat_id": "oc_5ad11d72b830411d72b836c20", "content": "{}"}},
}


def test_signed_encrypted_event_maps_to_cloudevent() -> None:
    request = signed(encrypted_body(V2))
    connector().verify(request, NOW)
    assert connector().handshake(request) is None
    [event] = connector().to_events(request)
    assert event.source == "saas.feishu"
    assert event.type == "im.message.receive_v1"
    assert event.id == "5e3702a84e847582be8db7fb73283c02"
    assert event.subject == "oc_5ad11d72b830411d72b836c20"
    assert event.time == "2020-12-23T12:19:49Z"
    assert "token" not in event.data["header"]
    assert event.data["header"]["app_id"] == "cli_a1b2"


def test_event_without_signature_is_rejected_when_encrypting() -> None:
    request = WebhookRequest.build(encrypted_body(V2))
    with pytest.raises(WebhookAuthError, match="X-Lark-Signature"):
        connector().verify(request, NOW)


def test_wrong_signature_is_rejected() -> None:
    request = signed(encrypted_body(V2))
    tampered = WebhookRequest.build(
        request.body, {**request.headers, "x-lark-request-nonce": "other"}
    )
    with pytest.raises(WebhookAuthError, match="does not match"):
        connector().verify(tampered, NOW)


def test_stale_signed_event_is_a_replay() -> None:
    request = signed(encrypted_body(V2), ts=str(int(NOW) - 301))
    with pytest.raises(WebhookReplayError, match="replay"):
        connector().verify(request, NOW)
    connector(tolerance=None).verify(request, NOW)


def test_wrong_token_on_event_is_rejected() -> None:
    forged = {**V2, "header": {**V2["header"], "token": "forged"}}
    with pytest.raises(WebhookAuthError, match="verification token"):
        connector().verify(signed(encrypted_body(forged)), NOW)


def test_v1_event_maps_uuid_and_event_type() -> None:
    payload = {
        "uuid": "41b5f371157e3d5341b38b20396e77a3",
        "token": TOKEN,
        "ts": "1550038209.428520",
        "type": "event_callback",
        "event": {"type": "message", "text": "hi"},
    }
    request = WebhookRequest.build(orjson.dumps(payload))
    c = connector(encrypt_key=None)
    c.verify(request, NOW)
    [event] = c.to_events(request)
    assert event.id == "41b5f371157e3d5341b38b20396e77a3"
    assert event.type == "message"
    assert "token" not in event.data


def test_encrypted_body_without_a_configured_key_is_malformed() -> None:
    request = WebhookRequest.build(encrypted_body(V2))
    with pytest.raises(WebhookPayloadError, match="encrypt_key"):
        connector(encrypt_key=None).verify(request, NOW)


@pytest.mark.parametrize(
    "payload",
    [
        {"schema": "2.0", "header": {"event_type": "x"}},
        {"schema": "2.0", "header": {"event_id": "e"}},
        {"uuid": "u", "event": {}},
        {"event": {"type": "message"}},
    ],
)
def test_malformed_events(payload: dict[str, Any]) -> None:
    with pytest.raises(WebhookPayloadError):
        connector(encrypt_key=None).to_events(WebhookRequest.build(orjson.dumps(payload)))
