"""Signature and timestamp primitives shared by the connectors.

Every comparison of a received signature or token goes through :func:`constant_eq`
(``hmac.compare_digest``), so response timing leaks nothing about the expected value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

from processor.gateway.webhooks.base import WebhookAuthError, WebhookReplayError

Algorithm = Literal["sha1", "sha256", "sha512"]
Encoding = Literal["hex", "base64"]


def hmac_digest(key: bytes, message: bytes, algorithm: Algorithm = "sha256") -> bytes:
    """The raw HMAC of ``message`` under ``key``."""
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def encode_digest(digest: bytes, encoding: Encoding) -> str:
    """Render a digest the way the platform writes it into its header."""
    if encoding == "hex":
        return digest.hex()
    return base64.b64encode(digest).decode("ascii")


def constant_eq(received: str | bytes, expected: str | bytes) -> bool:
    """Constant-time equality of two signatures or tokens (str compared as UTF-8)."""
    a = received.encode() if isinstance(received, str) else received
    b = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


def require_match(received: str, expected: str, what: str = "signature") -> None:
    """Raise WebhookAuthError unless ``received`` equals ``expected`` (constant time)."""
    if not constant_eq(received, expected):
        raise WebhookAuthError(f"{what} does not match")


def parse_timestamp(raw: str, *, what: str = "timestamp") -> float:
    """A Unix timestamp header as seconds; a non-number is an auth failure, not a 500."""
    try:
        value = float(raw.strip())
    except ValueError as exc:
        raise WebhookAuthError(f"{what} is not a number") from exc
    if value != value or value in (float("inf"), float("-inf")):
        raise WebhookAuthError(f"{what} is not a number")
    return value


def check_window(signed_at: float, now: float, tolerance_seconds: float | None) -> None:
    """Reject a signed timestamp more than ``tolerance_seconds`` away from ``now``.

    Both directions count: a timestamp far in the future is as suspect as an old one. A
    tolerance of None disables the check (for platforms whose retry timing is unknown).
    """
    if tolerance_seconds is None:
        return
    skew = abs(now - signed_at)
    if skew > tolerance_seconds:
        raise WebhookReplayError(
            f"timestamp is {skew:.0f} s away from server time (tolerance "
            f"{tolerance_seconds:g} s): possible replay"
        )
