"""Slack incoming webhook: text and Block Kit messages.

Request: ``POST https://hooks.slack.com/services/T.../B.../...`` with ``{"text": ...}`` or
``{"text": <fallback>, "blocks": [...]}``. Success is HTTP 200 with the body ``ok``; errors
are plain-text bodies (``invalid_payload``, ``channel_not_found``, ...) with a 4xx status,
``rollup_error`` with 500, and 429 with ``Retry-After`` when rate limited (about one
message per second per webhook, short bursts allowed: ``burst``, 3 by default).

For ``msgtype: blocks`` the template may render the blocks itself (a JSON array, or an object
with ``blocks`` and optionally ``text``); any other text becomes ``mrkdwn`` section blocks of
at most 3,000 characters each (Block Kit's section limit, 50 blocks per message).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from processor.sinks.base import Delivery, register_sink
from processor.sinks.http.ratelimit import Window, windows_for_rate
from processor.sinks.im.config import SlackTarget
from processor.sinks.im.digest import DigestStyle
from processor.sinks.im.textlimit import TRUNCATION_MARKER, chunks, fit_text, prefix, truncate
from processor.sinks.im.webhook import ChatWebhookSink, status_error

SLACK_MRKDWN = DigestStyle(heading="*{}*", separator="\n――――――――\n")
"""mrkdwn has neither headings nor rules: bold and a drawn line."""

SECTION_CHARS = 3000
MAX_BLOCKS = 50
FALLBACK_CHARS = 3000


@register_sink("slack")
class SlackSink(ChatWebhookSink):
    """Posts each event's text to a Slack incoming webhook."""

    platform = "Slack"
    digest_style = SLACK_MRKDWN

    target_model = SlackTarget
    target: SlackTarget

    def rate_windows(self) -> list[Window]:
        rate, burst = self.target.rate_per_second, self.target.burst
        if burst == 1:
            return windows_for_rate(rate)
        # the same average rate, at most `burst` messages at once (Slack: "short bursts")
        return [Window(burst, burst / rate)]

    def messages(self, text: str, context: Delivery) -> list[dict[str, Any]]:
        if self.target.msgtype == "blocks":
            rendered = _rendered_blocks(text)
            if rendered is not None:
                return [rendered]
            return [
                self._blocks_message(part) for part in self._parts(text, SECTION_CHARS * MAX_BLOCKS)
            ]
        return [{"text": part} for part in self._parts(text, self.target.max_chars)]

    def _parts(self, text: str, max_chars: int) -> list[str]:
        return fit_text(text, max_chars, measure=len, oversize=self.target.oversize)

    def _blocks_message(self, text: str) -> dict[str, Any]:
        pieces = chunks(text, SECTION_CHARS, len)
        if len(pieces) > MAX_BLOCKS:  # breaks at newlines made the pieces shorter: cut, visibly
            pieces = pieces[:MAX_BLOCKS]
            room = SECTION_CHARS - len(TRUNCATION_MARKER)
            pieces[-1] = prefix(pieces[-1], room, len) + TRUNCATION_MARKER
        sections = [
            {"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in pieces
        ]
        return {"text": truncate(text, FALLBACK_CHARS, len), "blocks": sections}

    def check_response(self, response: httpx.Response) -> None:
        # Slack answers exactly 200 "ok"; anything else on a 2xx is not a delivery we can
        # trust (status_error says "unexpected", not retried), other statuses go by the table.
        if response.status_code == 200 and response.text.strip() == "ok":
            return
        raise status_error(response, self.platform, self.clock.time())


def _rendered_blocks(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list):
        return {"blocks": value}
    if isinstance(value, dict) and isinstance(value.get("blocks"), list):
        return value
    return None
