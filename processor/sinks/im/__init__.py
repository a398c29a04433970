"""IM and alert sinks: DingTalk, WeCom, Feishu/Lark, Slack and email.

Importing this package registers the target kinds ``dingtalk``, ``wecom``, ``feishu``,
``slack`` and ``email`` with :func:`processor.sinks.base.register_sink`. Shared pieces:
:mod:`.ratelimit` (per-destination limiter that queues), :mod:`.digest` (one message per
window), :mod:`.textlimit` (byte-accurate truncation and splitting), :mod:`.ssrf` (private
network guard) and :mod:`.clock` (injectable time).
"""

from processor.clock import Clock, ManualClock, SystemClock
from processor.sinks.im.dingtalk import DingTalkSink
from processor.sinks.im.email import EmailSink
from processor.sinks.im.feishu import FeishuSink
from processor.sinks.im.slack import SlackSink
from processor.sinks.im.wecom import WeComSink

__all__ = [
    "Clock",
    "DingTalkSink",
    "EmailSink",
    "FeishuSink",
    "ManualClock",
    "SlackSink",
    "SystemClock",
    "WeComSink",
]
