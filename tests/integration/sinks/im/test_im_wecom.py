"""WeCom sink against a local group robot (key in the URL, byte-counted content limits)."""

from __future__ import annotations

from typing import Any

import pytest
from im_platforms import WeComServer

from processor.errors import BackpressureError, FatalError
from processor.sinks.base import Delivery
from processor.sinks.im.clock import ManualClock
from processor.sinks.im.wecom import WeComSink


def event(text: str, i: int = 0) -> Delivery:
    return Delivery(value=text.encode(), headers={"ce_id": f"e{i}", "ce_type": "alarm"}, offset=i)


def target(server: WeComServer, **overrides: Any) -> dict[str, Any]:
    return {"name": "ops-wecom", "url": server.url, "allow_private_network": True, **overrides}


async def deliver(sink: WeComSink, batch: list[Delivery]) -> list[BaseException | None]:
    await sink.setup()
    try:
        return list(await sink.deliver(batch))
    finally:
        await sink.close()


async def test_markdown_message(wecom_server: WeComServer) -> None:
    sink = WeComSink(target(wecom_server), clock=ManualClock())
    assert await deliver(sink, [event('**告警** <font color="warning">db-1</font>')]) == [None]
    assert wecom_server.received[0].json() == {
        "msgtype": "markdown",
        "markdown": {"content": '**告警** <font color="warning">db-1</font>'},
    }


async def test_text_message_with_mentions(wecom_server: WeComServer) -> None:
    sink = WeComSink(
        target(
            wecom_server,
            msgtype="text",
            mentioned_list=["wangqing", "@all"],
            mentioned_mobile_list=["13800001111"],
        ),
        clock=ManualClock(),
    )
    assert await deliver(sink, [event("disk full")]) == [None]
    assert wecom_server.received[0].json() == {
        "msgtype": "text",
        "text": {
            "content": "disk full",
            "mentioned_list": ["wangqing", "@all"],
            "mentioned_mobile_list": ["13800001111"],
        },
    }


async def test_markdown_truncated_to_4096_utf8_bytes(wecom_server: WeComServer) -> None:
    sink = WeComSink(target(wecom_server), clock=ManualClock())
    assert await deliver(sink, [event("磁盘已满" * 1000)]) == [None]  # 12,000 bytes
    content = wecom_server.received[0].json()["markdown"]["content"]
    assert 4096 - 3 < len(content.encode()) <= 4096
    assert content.endswith("…[truncated by kbridge]")
    assert wecom_server.violations == []


async def test_text_split_at_2048_bytes(wecom_server: WeComServer) -> None:
    sink = WeComSink(target(wecom_server, msgtype="text", oversize="split"), clock=ManualClock())
    text = "\n".join(f"告警 {i}: 主机 db-{i} 磁盘已满" for i in range(300))
    assert await deliver(sink, [event(text)]) == [None]
    contents = [r.json()["text"]["content"] for r in wecom_server.received]
    assert len(contents) > 1
    assert all(len(c.encode()) <= 2048 for c in contents)
    assert "".join(c.rsplit("\n(", 1)[0] for c in contents) == text
    assert wecom_server.violations == []


async def test_frequency_limit_is_backpressure(wecom_server: WeComServer) -> None:
    wecom_server.queue(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
    sink = WeComSink(target(wecom_server), clock=ManualClock())
    outcomes = await deliver(sink, [event("a"), event("b", 1)])
    assert all(isinstance(o, BackpressureError) and o.retry_after == 60.0 for o in outcomes)
    assert len(wecom_server.received) == 1


async def test_invalid_key_is_fatal(wecom_server: WeComServer) -> None:
    url = wecom_server.url.replace(wecom_server.key, "not-the-key")
    sink = WeComSink(target(wecom_server, url=url), clock=ManualClock())
    [outcome] = await deliver(sink, [event("a")])
    assert isinstance(outcome, FatalError) and outcome.code == "wecom-93000"
    assert "not-the-key" not in str(outcome)


async def test_one_bad_item_does_not_fail_its_neighbours(wecom_server: WeComServer) -> None:
    wecom_server.queue(200, {"errcode": 44004, "errmsg": "empty content"})
    sink = WeComSink(target(wecom_server), clock=ManualClock())
    outcomes = await deliver(sink, [event("a"), event("b", 1), event("c", 2)])
    assert isinstance(outcomes[0], FatalError)
    assert outcomes[1:] == [None, None]


async def test_twenty_per_minute(wecom_server: WeComServer) -> None:
    clock = ManualClock()
    sink = WeComSink(target(wecom_server, max_wait_seconds=120), clock=clock)
    assert await deliver(sink, [event(str(i), i) for i in range(21)]) == [None] * 21
    assert clock.sleeps == pytest.approx([60.05])


async def test_markdown_mentions_travel_in_the_content(wecom_server: WeComServer) -> None:
    sink = WeComSink(target(wecom_server, mentioned_list=["wangqing", "@all"]), clock=ManualClock())
    assert await deliver(sink, [event("磁盘" * 3000)]) == [None]
    content = wecom_server.received[0].json()["markdown"]["content"]
    assert content.endswith("\n<@wangqing>") and len(content.encode()) <= 4096
    assert "…[truncated by kbridge]" in content


async def test_markdown_digest_uses_what_wecom_renders(wecom_server: WeComServer) -> None:
    clock = ManualClock()
    sink = WeComSink(
        target(wecom_server, digest={"window_seconds": 5, "max_items": 2}), clock=clock
    )
    assert await deliver(sink, [event(f"alarm {i}", i) for i in range(4)]) == [None] * 4
    [request] = wecom_server.received
    content = request.json()["markdown"]["content"]
    assert content.startswith("### kbridge digest: 4 events\nalarm × 4")
    assert "---" not in content and "alarm 1" in content and "alarm 2" not in content
    assert content.endswith("… and 2 more")
