"""WeCom (企业微信) application callbacks: ``msg_signature``, AES-encrypted XML, ``echostr``.

Source: Tencent's official sample ``WXBizMsgCrypt.py``.

- ``msg_signature == sha1("".join(sorted([token, timestamp, nonce, encrypted])))`` where
  ``encrypted`` is ``echostr`` (URL verification, a GET) or the XML ``Encrypt`` element (a
  POST); ``msg_signature``, ``timestamp`` and ``nonce`` are query parameters.
- ``key = b64decode(EncodingAESKey + "=")``, ``iv = key[:16]``, AES-256-CBC with PKCS#7 over
  **32-byte** blocks; plaintext = random(16) | len (4 bytes, big-endian) | msg | receiveid,
  and receiveid must equal the configured ``corp_id``.
- URL verification answers the decrypted ``echostr`` as plain text; event deliveries are
  acknowledged with an empty body (WeCom treats any other body as a passive reply).
- Replay window on ``timestamp`` (seconds): WeCom documents none; 300 s is our default
  **[UNCONFIRMED]**; set ``tolerance_seconds: null`` to disable it.

Mapping: ``type`` = ``MsgType`` (``text``, ``image``...) or, for ``MsgType=event``, the
``Event`` name (``enter_agent``, ``change_contact``...); ``id`` = ``MsgId`` or, for events
(which carry none), the SHA-256 of the decrypted message, identical on WeCom's retries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import xml.etree.ElementTree as ET

from processor.config.sources import WecomSource
from processor.events import CloudEvent
from processor.gateway.webhooks.aes import aes_cbc_decrypt
from processor.gateway.webhooks.base import (
    WebhookAuthError,
    WebhookConnector,
    WebhookEvent,
    WebhookPayloadError,
    WebhookRequest,
    WebhookResponse,
    digest_id,
    epoch_time,
    register_connector,
)
from processor.gateway.webhooks.signing import check_window, parse_timestamp, require_match


def wecom_signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """The ``msg_signature`` WeCom sends."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def wecom_decrypt(encoding_aes_key: str, encrypted: str, receive_id: str) -> bytes:
    """Decrypt an ``echostr`` or ``Encrypt`` value and check its receiveid."""
    key = base64.b64decode(encoding_aes_key + "=")
    try:
        blob = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookPayloadError("encrypted value is not valid base64") from exc
    plain = aes_cbc_decrypt(key, key[:16], blob, block_size=32)
    if len(plain) < 20:
        raise WebhookPayloadError("decrypted message is too short")
    size = int.from_bytes(plain[16:20], "big")
    message, found_id = plain[20 : 20 + size], plain[20 + size :]
    if len(message) != size:
        raise WebhookPayloadError("decrypted message length field is inconsistent")
    if found_id.decode("utf-8", "replace") != receive_id:
        raise WebhookAuthError("decrypted receiveid does not match corp_id")
    return message


def parse_xml(raw: bytes) -> dict[str, str]:
    """Flat ``<xml><Tag>text</Tag>...</xml>`` into a dict; DTDs are refused (entity bombs)."""
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise WebhookPayloadError("XML with a DTD is not accepted")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise WebhookPayloadError(f"body is not valid XML: {exc}") from exc
    return {child.tag: (child.text or "") for child in root}


@register_connector
class WecomConnector(WebhookConnector[WecomSource]):
    """Verifies WeCom callbacks, answers URL verification and maps messages and events."""

    kind = "wecom"
    platform = "wecom"
    options_model = WecomSource
    accepts_get = True

    def _encrypted(self, request: WebhookRequest) -> str:
        if request.method == "GET":
            echostr = request.query.get("echostr")
            if not echostr:
                raise WebhookPayloadError("URL verification without echostr")
            # Base64 has no spaces: a '+' that arrived unencoded was decoded to ' '.
            return echostr.replace(" ", "+")
        outer = parse_xml(request.body)
        encrypted = outer.get("Encrypt")
        if not encrypted:
            raise WebhookPayloadError("XML body has no Encrypt element")
        return encrypted

    def _query(self, request: WebhookRequest, name: str) -> str:
        value = request.query.get(name)
        if not value:
            raise WebhookAuthError(f"missing query parameter {name}")
        return value

    def _decrypt(self, request: WebhookRequest) -> bytes:
        return wecom_decrypt(
            self.options.encoding_aes_key.get_secret_value(),
            self._encrypted(request),
            self.options.corp_id,
        )

    def verify(self, request: WebhookRequest, now: float) -> None:
        signature = self._query(request, "msg_signature")
        timestamp = self._query(request, "timestamp")
        nonce = self._query(request, "nonce")
        expected = wecom_signature(
            self.options.token.get_secret_value(), timestamp, nonce, self._encrypted(request)
        )
        require_match(signature, expected, "msg_signature")
        check_window(parse_timestamp(timestamp), now, self.options.tolerance_seconds)

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        if request.method != "GET":
            return None
        return WebhookResponse.text(self._decrypt(request).decode("utf-8", "replace"))

    def parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        message = self._decrypt(request)
        fields = parse_xml(message)
        msg_type = fields.get("MsgType")
        if not msg_type:
            raise WebhookPayloadError("decrypted message has no MsgType")
        event_type = fields.get("Event") if msg_type == "event" else msg_type
        if not event_type:
            raise WebhookPayloadError("event message has no Event")
        created = fields.get("CreateTime", "")
        time = epoch_time(created)
        return [
            WebhookEvent(
                id=fields.get("MsgId") or digest_id(self.options.corp_id, message),
                type=event_type,
                data=fields,
                subject=fields.get("FromUserName") or None,
                time=time,
            )
        ]

    def acknowledge(self, events: list[CloudEvent]) -> WebhookResponse:
        return WebhookResponse.text("")
