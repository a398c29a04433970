"""Token-in-URL webhooks for platforms that sign nothing (腾讯问卷, 金数据, ...).

Such platforms are configured with a URL ``/v1/webhooks/<source>/<token>``; the token is a
secret compared in constant time, optionally combined with an IP allowlist of the
platform's egress addresses. 腾讯问卷 (wj.qq.com/docs/webhook) posts an envelope
``{"id", "object", "action": "answer.create", "created_at", "payload"}``, which is what the
defaults map: ``id`` from ``id``, ``type`` from ``action``.
"""

from __future__ import annotations

from processor.config.sources import TokenSource
from processor.gateway.webhooks.base import WebhookAuthError, WebhookRequest, register_connector
from processor.gateway.webhooks.generic import MappedConnector
from processor.gateway.webhooks.signing import constant_eq


@register_connector
class TokenConnector(MappedConnector[TokenSource]):
    """Checks the URL token and allowlist, then maps the body by the source's options."""

    kind = "token"
    platform = "webhook"
    options_model = TokenSource
    uses_path_token = True

    def verify(self, request: WebhookRequest, now: float) -> None:
        self.check_ip_allowlist(request)
        if not request.path_token:
            raise WebhookAuthError("missing token: post to /v1/webhooks/<source>/<token>")
        if not constant_eq(request.path_token, self.options.token.get_secret_value()):
            raise WebhookAuthError("token does not match")
