"""Stripe webhooks: ``Stripe-Signature: t=...,v1=...`` with a replay window.

``expected = hex(HMAC_SHA256(key=endpoint_secret, msg=f"{t}.{raw_body}"))`` with the whole
``whsec_...`` string as the key. Every ``v1`` element is a candidate (Stripe sends several
while a secret is being rolled); ``v0`` (test-mode legacy) is ignored. The delivery is
accepted when any candidate matches and ``t`` is within ``tolerance_seconds`` (300, as the
official libraries default). Source: stripe-python ``_webhook.py``.
"""

from __future__ import annotations

from processor.config.sources import StripeSource
from processor.gateway.webhooks.base import (
    WebhookAuthError,
    WebhookConnector,
    WebhookEvent,
    WebhookRequest,
    epoch_time,
    register_connector,
    required_text,
)
from processor.gateway.webhooks.signing import (
    check_window,
    constant_eq,
    hmac_digest,
    parse_timestamp,
)


def stripe_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """One ``v1`` value of the ``Stripe-Signature`` header."""
    return hmac_digest(secret, timestamp.encode() + b"." + body).hex()


def parse_signature_header(header: str) -> tuple[str, list[str]]:
    """``(t, [v1, ...])`` from a ``Stripe-Signature`` header; malformed headers are 401."""
    timestamp: str | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamp = value
        elif key == "v1":
            candidates.append(value)
    if timestamp is None:
        raise WebhookAuthError("Stripe-Signature has no timestamp (t=)")
    if not candidates:
        raise WebhookAuthError("Stripe-Signature has no v1 signature")
    return timestamp, candidates


@register_connector
class StripeConnector(WebhookConnector[StripeSource]):
    """Verifies and maps Stripe events; ``type`` is the event type (``charge.succeeded``)."""

    kind = "stripe"
    platform = "stripe"
    options_model = StripeSource

    def verify(self, request: WebhookRequest, now: float) -> None:
        timestamp, candidates = parse_signature_header(request.require_header("Stripe-Signature"))
        expected = stripe_signature(
            self.options.secret.get_secret_value().encode(), timestamp, request.body
        )
        # Compare against every candidate without short-circuiting on the first match.
        matches = [constant_eq(candidate, expected) for candidate in candidates]
        if not any(matches):
            raise WebhookAuthError("Stripe-Signature does not match")
        check_window(parse_timestamp(timestamp), now, self.options.tolerance_seconds)

    def parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        payload = request.json_object()
        event_id = required_text(payload.get("id"), "Stripe event has no id")
        event_type = required_text(payload.get("type"), "Stripe event has no type")
        data = payload.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        subject = obj.get("id") if isinstance(obj, dict) else None
        created = payload.get("created")
        time = epoch_time(created)
        return [
            WebhookEvent(
                id=event_id,
                type=event_type,
                data=payload,
                subject=subject if isinstance(subject, str) else None,
                time=time,
            )
        ]
