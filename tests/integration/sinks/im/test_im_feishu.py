"""Feishu/Lark sink against a local custom bot checking the documented body signature."""

from __future__ import annotations

import json
from typing import Any

import pytest
from im_platforms import FeishuServer

from processor.errors import BackpressureError, FatalError
from processor.sinks.base import Delivery
from processor.sinks.im.clock import ManualClock
from processor.sinks.im.feishu import FeishuSink


def event(text: str, i: int = 0) -> Delivery:
    return Delivery(value=text.encode(), headers={"ce_id": f"e{i}", "ce_type": "alarm"}, offset=i)


def target(server: FeishuServer, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "ops-feishu",
        "url": server.url,
        "secret": server.secret,
        "allow_private_network": True,
        **overrides,
    }


async def deliver(sink: FeishuSink, batch: list[Delivery]) -> list[BaseException | None]:
    await sink.setup()
    try:
        return list(await sink.deliver(batch))
    finally:
        await sink.close()


async def test_signed_text(feishu_server: FeishuServer) -> None:
    sink = FeishuSink(target(feishu_server), clock=ManualClock())
    assert await deliver(sink, [event('CPU 99% <at user_id="all">所有人</at>')]) == [None]
    body = feishu_server.received[0].json()
    assert set(body) == {"timestamp", "sign", "msg_type", "content"}
    assert body["msg_type"] == "text"
    assert body["content"] == {"text": 'CPU 99% <at user_id="all">所有人</at>'}


async def test_interactive_card_from_markdown(feishu_server: FeishuServer) -> None:
    sink = FeishuSink(
        target(feishu_server, msgtype="interactive", title="告警"), clock=ManualClock()
    )
    assert await deliver(sink, [event("**db-1** disk full")]) == [None]
    card = feishu_server.received[0].json()["card"]
    assert card["header"]["title"] == {"tag": "plain_text", "content": "告警"}
    assert card["elements"] == [{"tag": "markdown", "content": "**db-1** disk full"}]


async def test_interactive_card_rendered_by_the_template(feishu_server: FeishuServer) -> None:
    card = {"elements": [{"tag": "div", "text": {"tag": "lark_md", "content": "**x**"}}]}
    sink = FeishuSink(target(feishu_server, msgtype="interactive"), clock=ManualClock())
    assert await deliver(sink, [event(json.dumps(card))]) == [None]
    assert feishu_server.received[0].json()["card"] == card


async def test_wrong_secret_is_fatal(feishu_server: FeishuServer) -> None:
    sink = FeishuSink(target(feishu_server, secret="other"), clock=ManualClock())
    [outcome] = await deliver(sink, [event("x")])
    assert isinstance(outcome, FatalError) and outcome.code == "feishu-19021"


async def test_stale_timestamp_is_rejected_by_the_platform(feishu_server: FeishuServer) -> None:
    clock = ManualClock(start=1599360473)  # 2020: far more than an hour off
    sink = FeishuSink(target(feishu_server), clock=clock)
    [outcome] = await deliver(sink, [event("x")])
    assert isinstance(outcome, FatalError) and outcome.code == "feishu-19021"


async def test_heavy_load_is_retried(feishu_server: FeishuServer) -> None:
    feishu_server.queue(200, {"code": 11232, "msg": "frequency limited"})
    sink = FeishuSink(target(feishu_server), clock=ManualClock())
    outcomes = await deliver(sink, [event("a"), event("b", 1)])
    assert all(isinstance(o, BackpressureError) and o.retriable for o in outcomes)


async def test_five_per_second_and_body_limit(feishu_server: FeishuServer) -> None:
    clock = ManualClock()
    sink = FeishuSink(target(feishu_server), clock=clock)
    assert await deliver(sink, [event(f"n{i}", i) for i in range(11)]) == [None] * 11
    # Sends at t=0 (5), t=1.05 (5), t=2.1 (1), with the 50 ms margin; the bot saw the
    # same spacing in signed time.
    assert clock.monotonic() == pytest.approx(2.1)
    stamps = feishu_server.signed_at
    assert max(stamps.count(s) for s in set(stamps)) <= 5


async def test_oversized_text_fits_20_kb(feishu_server: FeishuServer) -> None:
    sink = FeishuSink(target(feishu_server), clock=ManualClock())
    assert await deliver(sink, [event('"引号"\n' * 10_000)]) == [None]
    request = feishu_server.received[0]
    assert len(request.body) <= 20 * 1024
    assert request.json()["content"]["text"].endswith("…[truncated by kbridge]")
    assert feishu_server.violations == []
