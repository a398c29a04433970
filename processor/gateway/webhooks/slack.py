"""Slack Events API, slash commands and interactivity: v0 signatures with a replay window.

Slack signs ``"v0=" + hex(HMAC_SHA256(signing_secret, f"v0:{ts}:{raw_body}"))`` and sends
``ts`` in ``X-Slack-Request-Timestamp``; deliveries more than ``tolerance_seconds`` (300 by
Slack's guidance) from our clock are rejected as replays. ``url_verification`` is signed
too, so it is answered only after verification, as is the ``ssl_check`` probe Slack sends to
slash-command URLs.
Source: Slack "Verifying requests from Slack"; python-slack-sdk ``slack_sdk/signature``.

Mapping: Events API callbacks become ``type`` = the inner event's type (``app_mention``,
``message``...) with ``id`` = ``event_id`` (stable across Slack's retries); slash commands
become ``slash_command`` keyed by ``trigger_id``; interactivity payloads use their own
``type`` (``block_actions``, ``view_submission``...). The deprecated verification ``token``
field is dropped from the data so it never reaches Kafka.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson

from processor.config.sources import SlackSource
from processor.gateway.webhooks.base import (
    WebhookConnector,
    WebhookEvent,
    WebhookPayloadError,
    WebhookRequest,
    WebhookResponse,
    digest_id,
    epoch_time,
    register_connector,
    required_text,
    url_verification,
)
from processor.gateway.webhooks.signing import (
    check_window,
    hmac_digest,
    parse_timestamp,
    require_match,
)


def slack_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` value Slack sends."""
    return "v0=" + hmac_digest(secret, b"v0:" + timestamp.encode() + b":" + body).hex()


@register_connector
class SlackConnector(WebhookConnector[SlackSource]):
    """Verifies Slack requests, answers ``url_verification`` and maps events."""

    kind = "slack"
    platform = "slack"
    options_model = SlackSource

    def verify(self, request: WebhookRequest, now: float) -> None:
        timestamp = request.require_header("X-Slack-Request-Timestamp")
        received = request.require_header("X-Slack-Signature")
        expected = slack_signature(
            self.options.secret.get_secret_value().encode(), timestamp, request.body
        )
        require_match(received, expected, "X-Slack-Signature")
        check_window(parse_timestamp(timestamp), now, self.options.tolerance_seconds)

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        if _is_form(request):
            # Slack probes slash-command URLs with ``ssl_check=1``; it expects a bare 200.
            fields = parse_qs(request.body.decode("utf-8", "replace"))
            return WebhookResponse.text("") if fields.get("ssl_check") == ["1"] else None
        return url_verification(request.json_object())

    def parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        if _is_form(request):
            return [_form_event(request)]
        payload = _without_token(request.json_object())
        kind = payload.get("type")
        if kind == "event_callback":
            return [_callback_event(payload)]
        kind = required_text(kind, "Slack payload has no type")
        return [WebhookEvent(id=digest_id(request.body), type=kind, data=payload)]


def _is_form(request: WebhookRequest) -> bool:
    content_type = (request.header("content-type") or "").lower()
    return content_type.startswith("application/x-www-form-urlencoded")


def _without_token(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "token"}


def _callback_event(payload: dict[str, Any]) -> WebhookEvent:
    event = payload.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise WebhookPayloadError("event_callback without an event.type")
    event_id = required_text(payload.get("event_id"), "event_callback without an event_id")
    subject = event.get("channel") or payload.get("team_id")
    event_time = payload.get("event_time")
    time = epoch_time(event_time)
    return WebhookEvent(
        id=event_id,
        type=event["type"],
        data=payload,
        subject=subject if isinstance(subject, str) else None,
        time=time,
    )


def _form_event(request: WebhookRequest) -> WebhookEvent:
    """Slash commands (flat form) and interactivity (form with a JSON ``payload`` field)."""
    fields = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    form = {k: v[0] for k, v in fields.items()}
    if "payload" in form:
        try:
            payload = orjson.loads(form["payload"])
        except orjson.JSONDecodeError as exc:
            raise WebhookPayloadError(f"payload field is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            raise WebhookPayloadError("interactivity payload without a type")
        payload = _without_token(payload)
        trigger = payload.get("trigger_id")
        channel = payload.get("channel")
        team = payload.get("team")
        subject = (
            channel.get("id")
            if isinstance(channel, dict)
            else team.get("id")
            if isinstance(team, dict)
            else None
        )
        return WebhookEvent(
            id=trigger if isinstance(trigger, str) and trigger else digest_id(request.body),
            type=payload["type"],
            data=payload,
            subject=subject if isinstance(subject, str) else None,
        )
    if "command" not in form:
        raise WebhookPayloadError("form body is neither a slash command nor an interaction")
    data = _without_token(form)
    return WebhookEvent(
        id=form.get("trigger_id") or digest_id(request.body),
        type="slash_command",
        data=data,
        subject=form.get("channel_id") or None,
    )
