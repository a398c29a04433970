"""IM and alert sinks: DingTalk, WeCom, Feishu/Lark, Slack and email.

Each platform module registers its target kind (``dingtalk``, ``wecom``, ``feishu``,
``slack``, ``email``) with :func:`processor.sinks.base.register_sink` when imported; the
catalog (:mod:`processor.sinks.kinds`) imports only the module of the kind being built, so
this package imports none of them eagerly (building a Slack sink does not load SMTP code).
The webhook platforms are chat-format adapters (:mod:`.webhook`) on the one HTTP stack of
:mod:`processor.sinks.http`; shared pieces: :mod:`.digest` (one message per window) and
:mod:`.textlimit` (byte-accurate truncation and splitting).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Clock": "processor.clock",
    "ManualClock": "processor.clock",
    "SystemClock": "processor.clock",
    "DingTalkSink": "processor.sinks.im.dingtalk",
    "EmailSink": "processor.sinks.im.email",
    "FeishuSink": "processor.sinks.im.feishu",
    "SlackSink": "processor.sinks.im.slack",
    "WeComSink": "processor.sinks.im.wecom",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """``from processor.sinks.im import SlackSink`` imports only the Slack module."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
