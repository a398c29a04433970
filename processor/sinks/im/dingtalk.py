"""DingTalk custom robot (钉钉自定义机器人): text, markdown and actionCard messages.

Request: ``POST <url>&timestamp=<ms>&sign=<urlencoded base64 HMAC>`` with a JSON body;
the sign is ``base64(HMAC_SHA256(key=secret, msg=f"{ts}\\n{secret}"))``, URL-encoded
(platforms.md). Mentioned mobiles and user ids must also appear in the text for DingTalk to
highlight them, so they are appended when missing.

Limits: 20 messages per minute per robot (exceeding it throttles the robot for ten minutes,
error 410100); a body of about 20 KB [UNCONFIRMED, configurable as ``max_bytes``].

Answers are always HTTP 200 with ``{"errcode": ..., "errmsg": ...}``; see :data:`ERRORS`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

import httpx

from processor.errors import KbridgeError
from processor.imsign import dingtalk_signature
from processor.sinks.base import Delivery, register_sink
from processor.sinks.http.ratelimit import Window
from processor.sinks.im.config import DingtalkTarget
from processor.sinks.im.digest import MARKDOWN, PLAIN, DigestStyle
from processor.sinks.im.textlimit import fit_text, json_len
from processor.sinks.im.webhook import (
    ChatWebhookSink,
    ErrorTable,
    coded_error,
    dump_json,
    parse_json_object,
    whole_message,
)

SIGNATURE_RESERVE = 64
"""Bytes kept free in the body limit; the signature travels in the URL, this is slack."""

THROTTLE_SECONDS = 600.0
"""DingTalk throttles a robot for ten minutes after it exceeded 20 messages per minute."""

ERRORS: ErrorTable = {
    -1: (True, None, "system busy"),
    310000: (False, None, "security check failed (sign, timestamp, keyword or IP allowlist)"),
    400013: (False, None, "group dissolved"),
    400101: (False, None, "access_token missing"),
    400102: (False, None, "robot disabled"),
    400105: (False, None, "unsupported message type"),
    400106: (False, None, "robot does not exist"),
    410100: (True, THROTTLE_SECONDS, "sending too fast, robot throttled"),
    # Seen in practice [UNCONFIRMED]: "send too fast, exceed 20 times per minute".
    130101: (True, 60.0, "sending too fast"),
    430101: (False, None, "unsafe content"),
    430102: (False, None, "unsafe content"),
    430103: (False, None, "unsafe content"),
    430104: (False, None, "unsafe content"),
}


def sign(secret: str, timestamp_ms: int) -> str:
    """The URL-encoded ``sign`` parameter for ``timestamp_ms`` (milliseconds)."""
    return quote_plus(dingtalk_signature(secret, timestamp_ms))


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """``url`` with ``timestamp`` and ``sign`` query parameters appended."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}timestamp={timestamp_ms}&sign={sign(secret, timestamp_ms)}"


def error_for(errcode: int, errmsg: str) -> KbridgeError:
    """The typed error for a non-zero ``errcode``; unknown codes are not retried."""
    return coded_error(ERRORS, errcode, errmsg, label="DingTalk errcode", prefix="dingtalk")


@register_sink("dingtalk")
class DingTalkSink(ChatWebhookSink):
    """Posts each event's text to a DingTalk robot."""

    platform = "DingTalk"

    target_model = DingtalkTarget
    target: DingtalkTarget

    def rate_windows(self) -> list[Window]:
        return [Window(self.target.rate_per_minute, 60.0)]

    def style(self) -> DigestStyle:
        return MARKDOWN if self.target.msgtype != "text" else PLAIN

    def _mentions(self, text: str) -> str:
        missing = [
            f"@{who}"
            for who in [*self.target.at_mobiles, *self.target.at_user_ids]
            if f"@{who}" not in text
        ]
        return "\n" + " ".join(missing) if missing else ""

    def _at(self) -> dict[str, Any]:
        return {
            "atMobiles": list(self.target.at_mobiles),
            "atUserIds": list(self.target.at_user_ids),
            "isAtAll": self.target.at_all,
        }

    def _build(self, text: str) -> dict[str, Any]:
        t = self.target
        if t.msgtype == "text":
            return {"msgtype": "text", "text": {"content": text}, "at": self._at()}
        if t.msgtype == "markdown":
            return {
                "msgtype": "markdown",
                "markdown": {"title": t.title, "text": text},
                "at": self._at(),
            }
        card: dict[str, Any] = {"title": t.title, "text": text}
        if t.single_title and t.single_url:
            card.update(singleTitle=t.single_title, singleURL=t.single_url)
        return {"msgtype": "actionCard", "actionCard": card}

    def messages(self, text: str, context: Delivery) -> list[dict[str, Any]]:
        if self.target.msgtype == "actionCard":
            card = parse_json_object(text)
            if card is not None:  # the template rendered the whole actionCard
                card.setdefault("title", self.target.title)
                message = {"msgtype": "actionCard", "actionCard": card}
                return [
                    whole_message(
                        message,
                        what="DingTalk actionCard",
                        max_bytes=self.target.max_bytes,
                        reserve=SIGNATURE_RESERVE,
                    )
                ]
        suffix = self._mentions(text) if self.target.msgtype != "actionCard" else ""
        envelope = len(dump_json(self._build(suffix)))
        room = self.target.max_bytes - envelope - SIGNATURE_RESERVE
        parts = fit_text(text, room, measure=json_len, oversize=self.target.oversize)
        return [self._build(part + suffix) for part in parts]

    def request(self, message: dict[str, Any]) -> tuple[str, bytes]:
        url = self.target.url
        if self.target.secret is not None:
            now_ms = int(self.clock.time() * 1000)
            url = signed_url(url, self.target.secret.get_secret_value(), now_ms)
        return url, dump_json(message)

    def check_response(self, response: httpx.Response) -> None:
        self.check_errcode_response(response, error_for)
