"""Building IM sinks from target models or mappings."""

from __future__ import annotations

import pytest

from processor.config.targets import DingtalkTarget
from processor.errors import ConfigError
from processor.sinks.im.clock import ManualClock
from processor.sinks.im.config import coerce_target
from processor.sinks.im.dingtalk import DingTalkSink
from processor.sinks.im.email import EmailSink

URL = "https://oapi.dingtalk.com/robot/send?access_token=tok-123"


def test_a_config_model_passes_through() -> None:
    model = DingtalkTarget(name="ops", url=URL)
    assert coerce_target(DingtalkTarget, model) is model
    assert DingTalkSink(model, clock=ManualClock()).target is model


def test_mapping_errors_name_the_field_without_its_value() -> None:
    with pytest.raises(ConfigError) as info:
        coerce_target(DingtalkTarget, {"name": "ops", "url": URL, "msgtype": "video"})
    assert "msgtype" in str(info.value) and "tok-123" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        coerce_target(DingtalkTarget, {"name": "ops", "url": "ftp://x/?access_token=tok-123"})
    assert "url" in str(info.value) and "tok-123" not in str(info.value)


def test_other_objects_are_refused() -> None:
    with pytest.raises(ConfigError):
        coerce_target(DingtalkTarget, 42)


def test_email_port_follows_the_tls_mode() -> None:
    base = {"name": "m", "host": "smtp.example.com", "from_addr": "a@example.com"}
    ports = {
        tls: EmailSink({**base, "to": ["b@example.com"], "tls": tls}).port
        for tls in ("starttls", "implicit", "none")
    }
    assert ports == {"starttls": 587, "implicit": 465, "none": 25}


def test_every_im_kind_is_registered_and_builds_from_its_config_model() -> None:
    import processor.sinks.kinds  # noqa: F401 - what the worker imports to fill the registry
    from processor.config.targets import EmailTarget, FeishuTarget, SlackTarget, WecomTarget
    from processor.sinks.base import build_sink
    from processor.sinks.im import FeishuSink, SlackSink, WeComSink

    models = {
        "dingtalk": (DingtalkTarget(name="d", url=URL), DingTalkSink),
        "wecom": (WecomTarget(name="w", url="https://qyapi.weixin.qq.com/x?key=k"), WeComSink),
        "feishu": (FeishuTarget(name="f", url="https://open.feishu.cn/hook/x"), FeishuSink),
        "slack": (SlackTarget(name="s", url="https://hooks.slack.com/services/x"), SlackSink),
        "email": (
            EmailTarget(name="e", host="smtp.example.com", from_addr="a@x.io", to=["b@x.io"]),
            EmailSink,
        ),
    }
    for kind, (model, cls) in models.items():
        sink = build_sink(kind, model)
        assert type(sink) is cls and sink.target is model
