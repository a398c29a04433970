"""GitHub webhooks: ``X-Hub-Signature-256`` over the raw body.

GitHub signs ``"sha256=" + hex(HMAC_SHA256(secret, raw_body))`` and sends no timestamp, so
there is no replay window; ``X-GitHub-Delivery`` (a GUID that stays the same when a delivery
is redelivered) becomes the CloudEvent id. The legacy SHA-1 ``X-Hub-Signature`` is ignored
on purpose: accepting it would let an attacker pick the weaker scheme.
Source: GitHub docs, "Validating webhook deliveries".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson

from processor.config.sources import GithubSource
from processor.gateway.webhooks.base import (
    WebhookConnector,
    WebhookEvent,
    WebhookPayloadError,
    WebhookRequest,
    register_connector,
)
from processor.gateway.webhooks.signing import hmac_digest, require_match


def github_signature(secret: bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac_digest(secret, body).hex()


@register_connector
class GithubConnector(WebhookConnector[GithubSource]):
    """Verifies and maps GitHub deliveries; ``type`` is the ``X-GitHub-Event`` name."""

    kind = "github"
    platform = "github"
    options_model = GithubSource

    def verify(self, request: WebhookRequest, now: float) -> None:
        received = request.require_header("X-Hub-Signature-256")
        expected = github_signature(self.options.secret.get_secret_value().encode(), request.body)
        require_match(received, expected, "X-Hub-Signature-256")

    def parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        delivery = request.header("X-GitHub-Delivery")
        event = request.header("X-GitHub-Event")
        if not delivery or not event:
            raise WebhookPayloadError("missing X-GitHub-Delivery or X-GitHub-Event header")
        payload = _payload(request)
        repo = payload.get("repository")
        subject = repo.get("full_name") if isinstance(repo, dict) else None
        return [
            WebhookEvent(
                id=delivery,
                type=event,
                data=payload,
                subject=subject if isinstance(subject, str) else None,
            )
        ]


def _payload(request: WebhookRequest) -> dict[str, Any]:
    """The JSON payload, also for webhooks configured with content type form-urlencoded."""
    content_type = (request.header("content-type") or "").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(request.body.decode("utf-8", "replace"))
        raw = form.get("payload")
        if not raw:
            raise WebhookPayloadError("form body has no payload field")
        try:
            value = orjson.loads(raw[0])
        except orjson.JSONDecodeError as exc:
            raise WebhookPayloadError(f"payload field is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise WebhookPayloadError("payload must be a JSON object")
        return value
    return request.json_object()
