"""Feishu / Lark event subscriptions: encrypted bodies, signatures, tokens, challenges.

Source: open.larkoffice.com "接收事件"; larksuite oapi-sdk-python (``dispatcher_handler.py``,
``decryptor.py``).

- With an encrypt key, bodies arrive as ``{"encrypt": b64}``: ``key = SHA256(encrypt_key)``,
  ``iv`` = the first 16 bytes of the decoded blob, AES-256-CBC, PKCS#7 over 16-byte blocks.
- With an encrypt key, event deliveries carry ``X-Lark-Signature ==
  hex(SHA256(timestamp + nonce + encrypt_key + raw_body))`` (``X-Lark-Request-Timestamp``,
  ``X-Lark-Request-Nonce``); ``url_verification`` is not signed, so it is authenticated by
  decrypting with our key and by the verification token.
- The verification token is ``header.token`` (schema 2.0) or ``token`` (v1); it is checked
  whenever configured, and removed from the data so it never reaches Kafka.
- Replay window on ``X-Lark-Request-Timestamp`` (seconds): Feishu does not document one;
  300 s is our default **[UNCONFIRMED]**; set ``tolerance_seconds: null`` to disable it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import orjson

from processor.config.sources import FeishuSource
from processor.gateway.webhooks.aes import aes_cbc_decrypt
from processor.gateway.webhooks.base import (
    WebhookAuthError,
    WebhookConnector,
    WebhookEvent,
    WebhookPayloadError,
    WebhookRequest,
    WebhookResponse,
    epoch_time,
    register_connector,
    required_text,
    url_verification,
)
from processor.gateway.webhooks.signing import check_window, parse_timestamp, require_match


def feishu_decrypt(encrypt_key: str, encrypted: str) -> bytes:
    """Decrypt an ``encrypt`` field as Feishu's SDK does."""
    key = hashlib.sha256(encrypt_key.encode()).digest()
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookPayloadError("encrypt field is not valid base64") from exc
    if len(raw) < 32:
        raise WebhookPayloadError("encrypt field is too short")
    return aes_cbc_decrypt(key, raw[:16], raw[16:], block_size=16)


def feishu_signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """The ``X-Lark-Signature`` value Feishu sends."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


@register_connector
class FeishuConnector(WebhookConnector[FeishuSource]):
    """Verifies Feishu callbacks, answers the challenge and maps schema 2.0 and v1 events."""

    kind = "feishu"
    platform = "feishu"
    options_model = FeishuSource

    def _payload(self, request: WebhookRequest) -> dict[str, Any]:
        """The (decrypted) payload, cached on the request."""
        if "feishu" in request.memo:
            cached: dict[str, Any] = request.memo["feishu"]
            return cached
        outer = request.json_object()
        encrypted = outer.get("encrypt")
        if encrypted is None:
            payload = outer
        else:
            if self.options.encrypt_key is None:
                raise WebhookPayloadError("encrypted body but the source has no encrypt_key")
            if not isinstance(encrypted, str):
                raise WebhookPayloadError("encrypt must be a string")
            try:
                plain = feishu_decrypt(self.options.encrypt_key.get_secret_value(), encrypted)
            except WebhookPayloadError as exc:
                raise WebhookAuthError(
                    f"cannot decrypt with the configured encrypt_key: {exc.message}"
                ) from exc
            try:
                payload = orjson.loads(plain)
            except orjson.JSONDecodeError as exc:
                raise WebhookAuthError("decrypted body is not JSON (wrong encrypt_key?)") from exc
            if not isinstance(payload, dict):
                raise WebhookPayloadError("decrypted body must be a JSON object")
        request.memo["feishu"] = payload
        return payload

    def verify(self, request: WebhookRequest, now: float) -> None:
        payload = self._payload(request)
        if self.options.encrypt_key is not None:
            signature = request.header("X-Lark-Signature")
            if signature:
                timestamp = request.require_header("X-Lark-Request-Timestamp")
                nonce = request.require_header("X-Lark-Request-Nonce")
                expected = feishu_signature(
                    timestamp, nonce, self.options.encrypt_key.get_secret_value(), request.body
                )
                require_match(signature, expected, "X-Lark-Signature")
                check_window(parse_timestamp(timestamp), now, self.options.tolerance_seconds)
            elif payload.get("type") != "url_verification":
                raise WebhookAuthError("missing header X-Lark-Signature")
        if self.options.verification_token is not None:
            header = payload.get("header")
            token = header.get("token") if isinstance(header, dict) else payload.get("token")
            if not isinstance(token, str):
                raise WebhookAuthError("payload has no verification token")
            require_match(
                token, self.options.verification_token.get_secret_value(), "verification token"
            )

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        return url_verification(self._payload(request))

    def parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        payload = self._payload(request)
        header = payload.get("header")
        if isinstance(header, dict):
            return [_v2_event(payload, header)]
        return [_v1_event(payload)]


def _v2_event(payload: dict[str, Any], header: dict[str, Any]) -> WebhookEvent:
    event_id = required_text(header.get("event_id"), "schema 2.0 event without header.event_id")
    event_type = required_text(
        header.get("event_type"), "schema 2.0 event without header.event_type"
    )
    data = dict(payload)
    data["header"] = {k: v for k, v in header.items() if k != "token"}
    created = header.get("create_time")
    time = epoch_time(created, millis=True)
    event = payload.get("event")
    message = event.get("message") if isinstance(event, dict) else None
    chat = message.get("chat_id") if isinstance(message, dict) else None
    return WebhookEvent(
        id=event_id,
        type=event_type,
        data=data,
        subject=chat if isinstance(chat, str) else None,
        time=time,
    )


def _v1_event(payload: dict[str, Any]) -> WebhookEvent:
    event_id = required_text(payload.get("uuid"), "v1 event without uuid")
    event = payload.get("event")
    event_type = required_text(
        event.get("type") if isinstance(event, dict) else None, "v1 event without event.type"
    )
    data = {k: v for k, v in payload.items() if k != "token"}
    return WebhookEvent(id=event_id, type=event_type, data=data)
