"""The catalog of built-in sink kinds: the one place that knows which module builds which kind.

Nothing in ``processor/sinks`` imports this module (the worker and the commands do, at the
top), so there is no import cycle: the contract (:mod:`processor.sinks.base`) knows only
the registry, each sink module registers itself with ``@register_sink``, and this catalog
tells the registry where the built-in kinds live. Modules are imported on first use, one
per kind, so building a Slack sink loads neither SQLAlchemy nor the SMTP client, and
building a mysql sink loads no IM code.
"""

from __future__ import annotations

from processor.sinks.base import build_sink, register_sink_module, sink_factory

BUILTIN: dict[str, str] = {
    "mysql": "processor.sinks.mysql",
    "webhook": "processor.sinks.webhook",
    "function": "processor.sinks.function",
    "kafka": "processor.sinks.kafka",
    "dingtalk": "processor.sinks.im.dingtalk",
    "wecom": "processor.sinks.im.wecom",
    "feishu": "processor.sinks.im.feishu",
    "slack": "processor.sinks.im.slack",
    "email": "processor.sinks.im.email",
}
"""Target kind -> the module whose ``@register_sink`` builds it."""

for _kind, _module in BUILTIN.items():
    register_sink_module(_kind, _module)

__all__ = ["BUILTIN", "build_sink", "sink_factory"]
