"""The HTTP gateway: PutEvents, CloudEvents over HTTP, SaaS webhooks, management API.

Public API::

    from processor.gateway import create_app
    app = create_app(settings)             # FastAPI; connects only when the app starts

Modules: ``app`` (the factory), ``putevents`` / ``awsjson`` (AWS PutEvents, REST and JSON
1.1), ``cloudevents_http``, ``management``, ``ops`` (health, readiness, metrics),
``publisher`` (produce and await acks), ``auth`` / ``sigv4``, ``webhooks/`` (per SaaS).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing processor.gateway.webhooks does not build the whole app module.
    if name == "create_app":
        from processor.gateway.app import create_app

        return create_app
    raise AttributeError(name)
