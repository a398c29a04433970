"""WeCom group robot (企业微信群机器人): text and markdown messages.

Request: ``POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<uuid>`` with
``{"msgtype": "text", "text": {"content", "mentioned_list", "mentioned_mobile_list"}}`` or
``{"msgtype": "markdown", "markdown": {"content"}}``. No signature: the key is the secret.

Limits: content at most 2,048 UTF-8 bytes (text) or 4,096 (markdown); 20 messages per minute
per robot. Answers: HTTP 200 with ``{"errcode", "errmsg"}``; see :data:`ERRORS`.
"""

from __future__ import annotations

from typing import Any

import httpx

from processor.errors import KbridgeError
from processor.sinks.base import Delivery, register_sink
from processor.sinks.http.ratelimit import Window
from processor.sinks.im.config import WecomTarget
from processor.sinks.im.digest import PLAIN, DigestStyle
from processor.sinks.im.textlimit import fit_text, utf8_len
from processor.sinks.im.webhook import ChatWebhookSink, ErrorTable, coded_error

WECOM_MARKDOWN = DigestStyle(heading="### {}", separator="\n\n――――――――\n\n")
"""WeCom's ``markdown`` type renders headings but not ``---`` rules (only markdown_v2 does)."""

CONTENT_LIMITS = {"text": 2048, "markdown": 4096}
"""Content limits in UTF-8 bytes, per message type."""

ERRORS: ErrorTable = {
    -1: (True, None, "system busy"),
    45009: (True, 60.0, "api freq out of limit"),
    93000: (False, None, "invalid webhook url"),
    40008: (False, None, "invalid message type"),
    44004: (False, None, "empty content"),
}


def error_for(errcode: int, errmsg: str) -> KbridgeError:
    """The typed error for a non-zero ``errcode``; unknown codes are not retried."""
    return coded_error(ERRORS, errcode, errmsg, label="WeCom errcode", prefix="wecom")


@register_sink("wecom")
class WeComSink(ChatWebhookSink):
    """Posts each event's text to a WeCom group robot."""

    platform = "WeCom"

    target_model = WecomTarget
    target: WecomTarget

    def rate_windows(self) -> list[Window]:
        return [Window(self.target.rate_per_minute, 60.0)]

    def style(self) -> DigestStyle:
        return WECOM_MARKDOWN if self.target.msgtype == "markdown" else PLAIN

    def _build(self, content: str) -> dict[str, Any]:
        t = self.target
        if t.msgtype == "text":
            text: dict[str, Any] = {"content": content}
            if t.mentioned_list:
                text["mentioned_list"] = list(t.mentioned_list)
            if t.mentioned_mobile_list:
                text["mentioned_mobile_list"] = list(t.mentioned_mobile_list)
            return {"msgtype": "text", "text": text}
        return {"msgtype": "markdown", "markdown": {"content": content}}

    def _markdown_mentions(self, text: str) -> str:
        """Markdown has no mention lists; ``<@userid>`` in the content mentions instead."""
        if self.target.msgtype != "markdown":
            return ""
        tags = [f"<@{u}>" for u in self.target.mentioned_list if u != "@all"]
        missing = [tag for tag in tags if tag not in text]
        return "\n" + " ".join(missing) if missing else ""

    def messages(self, text: str, context: Delivery) -> list[dict[str, Any]]:
        suffix = self._markdown_mentions(text)
        limit = CONTENT_LIMITS[self.target.msgtype] - utf8_len(suffix)
        parts = fit_text(text, limit, measure=utf8_len, oversize=self.target.oversize)
        return [self._build(part + suffix) for part in parts]

    def check_response(self, response: httpx.Response) -> None:
        self.check_errcode_response(response, error_for)
