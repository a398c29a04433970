"""SaaS webhook sources of the gateway: one module per platform, one router for all.

Public API::

    from processor.gateway.webhooks import build_webhook_router, kafka_publisher
    router = build_webhook_router(resolve_source, kafka_publisher(producer), clock=time.time)
    app.include_router(router)          # POST /v1/webhooks/{name}[/{token}]
    install_token_filter()              # keep URL tokens out of uvicorn's access log

Importing this package registers every connector kind: github, slack, stripe, feishu,
dingtalk, wecom, hmac, token.
"""

from __future__ import annotations

from processor.gateway.webhooks import (  # noqa: F401 - imported to register the kinds
    dingtalk,
    feishu,
    github,
    hmac_source,
    slack,
    stripe,
    token_source,
    wecom,
)
from processor.gateway.webhooks.base import (
    WebhookAuthError,
    WebhookConnector,
    WebhookError,
    WebhookEvent,
    WebhookForbiddenError,
    WebhookPayloadError,
    WebhookReplayError,
    WebhookRequest,
    WebhookResponse,
    build_connector,
    connector_class,
    connector_kinds,
    register_connector,
)
from processor.gateway.webhooks.publish import Publish, kafka_publisher
from processor.gateway.webhooks.redact import WebhookTokenFilter, install_token_filter
from processor.gateway.webhooks.router import build_webhook_router

__all__ = [
    "Publish",
    "WebhookAuthError",
    "WebhookConnector",
    "WebhookError",
    "WebhookEvent",
    "WebhookForbiddenError",
    "WebhookPayloadError",
    "WebhookReplayError",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookTokenFilter",
    "build_connector",
    "build_webhook_router",
    "connector_class",
    "connector_kinds",
    "install_token_filter",
    "kafka_publisher",
    "register_connector",
]
