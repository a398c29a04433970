"""Feishu / Lark custom bot (飞书自定义机器人): text and interactive card messages.

Request: ``POST https://open.feishu.cn/open-apis/bot/v2/hook/<id>`` with
``{"timestamp": "<seconds>", "sign": "...", "msg_type": "text", "content": {"text": ...}}``
or ``{"msg_type": "interactive", "card": {...}}``. The signature is
``base64(HMAC_SHA256(key=f"{ts}\\n{secret}", msg=b""))``: the string-to-sign is the HMAC
*key* and the message is empty (unlike DingTalk; platforms.md).

Limits: 100 requests per minute and 5 per second per bot; body at most 20 KB.
Answers: HTTP 200 with ``{"code": 0, "msg": "success"}`` (older deployments answer
``{"StatusCode": 0, "StatusMessage": "success"}``); see :data:`ERRORS`.
"""

from __future__ import annotations

from typing import Any

import httpx

from processor.errors import KbridgeError, RetriableError
from processor.imsign import feishu_signature
from processor.sinks.base import Delivery, register_sink
from processor.sinks.http.ratelimit import Window
from processor.sinks.im.config import FeishuTarget
from processor.sinks.im.digest import PLAIN, DigestStyle
from processor.sinks.im.textlimit import fit_text, json_len
from processor.sinks.im.webhook import (
    ChatWebhookSink,
    ErrorTable,
    coded_error,
    dump_json,
    json_object,
    parse_json_object,
    status_error,
    whole_message,
)

FEISHU_CARD = DigestStyle(heading="**{}**", separator="\n\n---\n\n")
"""Card markdown has no headings; bold stands in."""

SIGNATURE_RESERVE = 96
"""Bytes kept free in the body limit for the ``timestamp`` and ``sign`` fields."""

ERRORS: ErrorTable = {
    19021: (False, None, "sign match fail or timestamp is not within one hour"),
    19022: (False, None, "IP not allowed"),  # [UNCONFIRMED]
    19024: (False, None, "keyword missing"),
    9499: (False, None, "bad request"),  # [UNCONFIRMED]
    11232: (True, 1.0, "frequency limited (heavy load)"),
}


def sign(secret: str, timestamp: int) -> str:
    """The ``sign`` field for ``timestamp`` (seconds)."""
    return feishu_signature(secret, timestamp)


def error_for(code: int, msg: str) -> KbridgeError:
    """The typed error for a non-zero ``code``; unknown codes are not retried."""
    return coded_error(ERRORS, code, msg, label="Feishu code", prefix="feishu")


@register_sink("feishu")
class FeishuSink(ChatWebhookSink):
    """Posts each event's text to a Feishu/Lark custom bot."""

    platform = "Feishu"

    target_model = FeishuTarget
    target: FeishuTarget

    def rate_windows(self) -> list[Window]:
        return [
            Window(self.target.rate_per_minute, 60.0),
            Window(self.target.rate_per_second, 1.0),
        ]

    def style(self) -> DigestStyle:
        return FEISHU_CARD if self.target.msgtype == "interactive" else PLAIN

    def _build(self, text: str) -> dict[str, Any]:
        if self.target.msgtype == "text":
            return {"msg_type": "text", "content": {"text": text}}
        return {"msg_type": "interactive", "card": self._card(text)}

    def _card(self, text: str) -> dict[str, Any]:
        return {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": self.target.title}},
            "elements": [{"tag": "markdown", "content": text}],
        }

    def messages(self, text: str, context: Delivery) -> list[dict[str, Any]]:
        if self.target.msgtype == "interactive":
            card = parse_json_object(text)
            if card is not None:  # the template rendered a whole card
                body = {"msg_type": "interactive", "card": card}
                return [
                    whole_message(
                        body,
                        what="Feishu card",
                        max_bytes=self.target.max_bytes,
                        reserve=SIGNATURE_RESERVE,
                    )
                ]
        envelope = len(dump_json(self._build("")))
        room = self.target.max_bytes - envelope - SIGNATURE_RESERVE
        parts = fit_text(text, room, measure=json_len, oversize=self.target.oversize)
        return [self._build(part) for part in parts]

    def request(self, message: dict[str, Any]) -> tuple[str, bytes]:
        if self.target.secret is None:
            return self.url, dump_json(message)
        timestamp = int(self.clock.time())
        signed = {
            "timestamp": str(timestamp),
            "sign": sign(self.target.secret.get_secret_value(), timestamp),
            **message,
        }
        return self.url, dump_json(signed)

    def check_response(self, response: httpx.Response) -> None:
        if response.status_code == 200 or response.status_code == 400:
            body = _maybe_json(response)
            if body is not None:
                code = body.get("code", body.get("StatusCode"))
                if code == 0 and response.status_code == 200:
                    return
                if isinstance(code, int) and code != 0:
                    msg = str(body.get("msg", body.get("StatusMessage", "")))
                    raise error_for(code, msg)
        if response.status_code != 200:
            raise status_error(response, self.platform, self.clock.time())
        body = json_object(response, self.platform)
        raise RetriableError(f"Feishu answered without a code: {body}", code="bad-response")


def _maybe_json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        value = response.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
