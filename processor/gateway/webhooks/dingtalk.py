"""DingTalk outgoing robot (机器人接收消息): ``timestamp`` + ``sign`` headers.

``sign == base64(HMAC_SHA256(key=appSecret, msg=f"{timestamp}\\n{appSecret}"))`` with
``timestamp`` in milliseconds, rejected when more than one hour off (DingTalk's own window).
Unlike the outgoing custom-robot signature, the header value is not URL-encoded.
Source: open.dingtalk.com "receive-message".

Mapping: ``id`` = ``msgId``, ``type`` = ``msgtype`` (``text``, ``richText``, ``picture``...),
``subject`` = ``conversationId``, ``time`` = ``createAt``.
"""

from __future__ import annotations

from processor.config.sources import DingtalkSource
from processor.gateway.webhooks.base import (
    WebhookConnector,
    WebhookEvent,
    WebhookRequest,
    epoch_time,
    register_connector,
    required_text,
)
from processor.gateway.webhooks.signing import check_window, parse_timestamp, require_match
from processor.imsign import dingtalk_signature


@register_connector
class DingtalkConnector(WebhookConnector[DingtalkSource]):
    """Verifies and maps messages DingTalk forwards to an outgoing robot."""

    kind = "dingtalk"
    platform = "dingtalk"
    options_model = DingtalkSource

    def verify(self, request: WebhookRequest, now: float) -> None:
        timestamp = request.require_header("timestamp")
        received = request.require_header("sign")
        expected = dingtalk_signature(self.options.secret.get_secret_value(), timestamp)
        require_match(received, expected, "sign")
        check_window(parse_timestamp(timestamp) / 1000, now, self.options.tolerance_seconds)

    def parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        payload = request.json_object()
        msg_id = required_text(payload.get("msgId"), "DingTalk message has no msgId")
        msgtype = required_text(payload.get("msgtype"), "DingTalk message has no msgtype")
        conversation = payload.get("conversationId")
        created = payload.get("createAt")
        time = epoch_time(created, millis=True)
        return [
            WebhookEvent(
                id=msg_id,
                type=msgtype,
                data=payload,
                subject=conversation if isinstance(conversation, str) else None,
                time=time,
            )
        ]
