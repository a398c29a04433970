"""Who may use the console: read-scoped keys read, admin keys also redrive.

The management API knows one scope, ``admin``. The console adds ``read`` for people who
should look but not change anything (an on-call engineer, a rule author): a key with
``read`` (or ``admin``, or ``*``) may load every console view; redriving dead letters
writes to Kafka and needs ``admin``. The checks reuse the gateway's key ring, so keys are
configured exactly as for the management API (docs/console.md).
"""

from __future__ import annotations

from fastapi import Request

from processor.gateway.auth import ADMIN, presented_key
from processor.gateway.context import GatewayContext
from processor.gateway.errors import ApiError

READ = "read"
"""The scope that allows the console's read-only views."""


def authorize_read(context: GatewayContext, request: Request) -> None:
    """401/403 unless the key grants ``read`` or ``admin`` (no check when auth is off)."""
    if not context.settings.auth_enabled:
        return
    presented = presented_key(request.headers)
    key = context.keys.authenticate(presented) if presented is not None else None
    if key is None or not (key.allows(READ) or key.allows(ADMIN)):
        context.authorize(request, READ)  # the management API's 401/403 wording


def authorize_write(context: GatewayContext, request: Request) -> None:
    """401/403 unless the key grants ``admin`` (redrive writes to Kafka)."""
    context.authorize_admin(request)


def who(context: GatewayContext, request: Request) -> dict[str, object]:
    """What the page may offer this key: reading, and whether it may redrive."""
    if not context.settings.auth_enabled:
        return {"auth": False, "key": None, "write": True}
    presented = presented_key(request.headers)
    key = context.keys.authenticate(presented) if presented is not None else None
    if key is None:
        raise ApiError(401, "unauthorized", "the API key is not valid")
    return {"auth": True, "key": key.name, "write": key.allows(ADMIN)}
