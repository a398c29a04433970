"""The IM platforms' robot signatures, written once for every side that needs them.

The gateway verifies DingTalk's outgoing-robot ``sign`` header, the DingTalk and Feishu
sinks sign what they send, and the demo's fake platforms verify those signatures. All use
these two pure functions (base64 text; DingTalk's URL parameter is this value URL-encoded).

* DingTalk: ``base64(HMAC_SHA256(key=secret, msg=f"{timestamp_ms}\\n{secret}"))``
  (open.dingtalk.com, "custom robot security settings" and "receive message").
* Feishu/Lark: ``base64(HMAC_SHA256(key=f"{timestamp}\\n{secret}", msg=b""))``: the
  string-to-sign is the HMAC *key* and the message is empty (open.feishu.cn, "custom bot").
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def dingtalk_signature(secret: str, timestamp_ms: int | str) -> str:
    """DingTalk's ``sign`` for ``timestamp_ms`` (milliseconds), base64, not URL-encoded."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def feishu_signature(secret: str, timestamp: int | str) -> str:
    """Feishu's ``sign`` field for ``timestamp`` (seconds)."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")
