"""``X-Kbridge-Signature``: lets a receiver check a delivery came from kbridge, unmodified.

Format (Stripe-like): ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.
Signing the timestamp with the body lets receivers reject replays outside a window.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Kbridge-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, body: bytes, header: str, *, tolerance: float = 300.0, now: float | None = None
) -> bool:
    """Receiver side: constant-time check of ``header`` and of the timestamp window."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))
