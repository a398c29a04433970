"""DingTalk sink against a local robot that checks the documented signature and limits."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from im_platforms import DingTalkServer

from processor.errors import BackpressureError, ConfigError, FatalError
from processor.netguard import SsrfRefused
from processor.sinks.base import Delivery, sink_factory
from processor.sinks.im.clock import ManualClock
from processor.sinks.im.dingtalk import DingTalkSink


def event(text: str, i: int = 0) -> Delivery:
    return Delivery(
        value=text.encode(),
        headers={"ce_id": f"evt-{i}", "ce_type": "alarm.critical", "kbridge-rule": "r"},
        topic="kbridge.target.ops",
        offset=i,
    )


def target(server: DingTalkServer, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "ops-dingtalk",
        "url": server.url,
        "secret": server.secret,
        "allow_private_network": True,
        **overrides,
    }


async def deliver(sink: DingTalkSink, batch: list[Delivery]) -> list[BaseException | None]:
    await sink.setup()
    try:
        return list(await sink.deliver(batch))
    finally:
        await sink.close()


async def test_registered_kind_builds_the_sink(dingtalk_server: DingTalkServer) -> None:
    import processor.sinks.kinds  # noqa: F401 - the catalog of built-in kinds

    assert isinstance(sink_factory("dingtalk")(target(dingtalk_server)), DingTalkSink)


async def test_signed_text_with_mentions(dingtalk_server: DingTalkServer) -> None:
    sink = DingTalkSink(
        target(dingtalk_server, msgtype="text", at_mobiles=["13800000000"], at_all=False),
        clock=ManualClock(),
    )
    outcomes = await deliver(sink, [event("CPU 99% on db-1")])
    assert outcomes == [None]
    assert dingtalk_server.violations == []
    [request] = dingtalk_server.received
    assert request.headers["content-type"].startswith("application/json")
    assert request.json() == {
        "msgtype": "text",
        "text": {"content": "CPU 99% on db-1\n@13800000000"},
        "at": {"atMobiles": ["13800000000"], "atUserIds": [], "isAtAll": False},
    }


async def test_markdown_with_title_and_at_all(dingtalk_server: DingTalkServer) -> None:
    sink = DingTalkSink(target(dingtalk_server, title="Alarm", at_all=True), clock=ManualClock())
    assert await deliver(sink, [event("### Disk full\n- host: db-1")]) == [None]
    body = dingtalk_server.received[0].json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"] == {"title": "Alarm", "text": "### Disk full\n- host: db-1"}
    assert body["at"]["isAtAll"] is True


async def test_action_card_with_button(dingtalk_server: DingTalkServer) -> None:
    sink = DingTalkSink(
        target(
            dingtalk_server,
            msgtype="actionCard",
            single_title="Open console",
            single_url="https://console.example.com/alarms/1",
        ),
        clock=ManualClock(),
    )
    assert await deliver(sink, [event("Disk full")]) == [None]
    card = dingtalk_server.received[0].json()["actionCard"]
    assert card == {
        "title": "kbridge",
        "text": "Disk full",
        "singleTitle": "Open console",
        "singleURL": "https://console.example.com/alarms/1",
    }


async def test_wrong_secret_is_fatal(dingtalk_server: DingTalkServer) -> None:
    sink = DingTalkSink(target(dingtalk_server, secret="SECwrong"), clock=ManualClock())
    [outcome] = await deliver(sink, [event("x")])
    assert isinstance(outcome, FatalError) and not outcome.retriable
    assert outcome.code == "dingtalk-310000"
    assert "SECwrong" not in str(outcome) and "robot-token-1" not in str(outcome)


async def test_rate_limit_queues_with_the_injected_clock(dingtalk_server: DingTalkServer) -> None:
    clock = ManualClock()
    sink = DingTalkSink(target(dingtalk_server, max_wait_seconds=120), clock=clock)
    outcomes = await deliver(sink, [event(f"alarm {i}", i) for i in range(45)])
    assert outcomes == [None] * 45
    assert len(dingtalk_server.received) == 45
    # The robot saw at most 20 in any minute of signed time, and we waited for it.
    assert dingtalk_server.violations == []
    assert clock.sleeps == pytest.approx([60.05, 60.05])  # 50 ms safety margin


async def test_long_waits_go_back_to_the_worker_as_backpressure(
    dingtalk_server: DingTalkServer,
) -> None:
    clock = ManualClock()
    sink = DingTalkSink(target(dingtalk_server, max_wait_seconds=10), clock=clock)
    outcomes = await deliver(sink, [event(f"alarm {i}", i) for i in range(22)])
    assert outcomes[:20] == [None] * 20
    for outcome in outcomes[20:]:
        assert isinstance(outcome, BackpressureError)
        assert outcome.code == "rate-limited"
        assert outcome.retry_after == pytest.approx(60.05)
    assert len(dingtalk_server.received) == 20 and clock.sleeps == []


async def test_throttled_robot_stops_the_batch_and_pauses(dingtalk_server: DingTalkServer) -> None:
    dingtalk_server.queue(
        200, {"errcode": 410100, "errmsg": "send too fast, exceed 20 times per minute"}
    )
    clock = ManualClock()
    sink = DingTalkSink(target(dingtalk_server), clock=clock)
    outcomes = await deliver(sink, [event(f"alarm {i}", i) for i in range(3)])
    assert all(isinstance(o, BackpressureError) and o.retry_after == 600.0 for o in outcomes)
    assert len(dingtalk_server.received) == 1  # the rest was not attempted
    assert sink.limiter.delay() == 600.0


async def test_oversized_markdown_is_truncated_within_the_body_limit(
    dingtalk_server: DingTalkServer,
) -> None:
    text = "| 主机 | 状态 |\n" + '| db-1 | "磁盘满" |\n' * 2000
    sink = DingTalkSink(target(dingtalk_server), clock=ManualClock())
    assert await deliver(sink, [event(text)]) == [None]
    request = dingtalk_server.received[0]
    assert len(request.body) <= 20_000
    assert request.json()["markdown"]["text"].endswith("…[truncated by kbridge]")
    assert dingtalk_server.violations == []


async def test_oversized_markdown_can_be_split(dingtalk_server: DingTalkServer) -> None:
    lines = [f'- host db-{i}: 磁盘满 "98%"' for i in range(1500)]
    sink = DingTalkSink(target(dingtalk_server, oversize="split"), clock=ManualClock())
    assert await deliver(sink, [event("\n".join(lines))]) == [None]
    texts = [r.json()["markdown"]["text"] for r in dingtalk_server.received]
    assert len(texts) > 1 and all(len(r.body) <= 20_000 for r in dingtalk_server.received)
    assert all(t.endswith(f"({i}/{len(texts)})") for i, t in enumerate(texts, start=1))
    rejoined = "".join(t.rsplit("\n(", 1)[0] for t in texts)
    assert rejoined == "\n".join(lines)


async def test_digest_turns_a_storm_into_one_message(dingtalk_server: DingTalkServer) -> None:
    clock = ManualClock(auto_advance=False)
    sink = DingTalkSink(
        target(dingtalk_server, digest={"window_seconds": 60, "max_items": 3}), clock=clock
    )
    await sink.setup()
    first = asyncio.create_task(sink.deliver([event(f"disk full {i}", i) for i in range(100)]))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(
        sink.deliver([event(f"disk full {i}", i) for i in range(100, 150)])
    )
    await asyncio.sleep(0.05)
    assert dingtalk_server.received == [] and not first.done()
    clock.advance(60)
    assert list(await first) == [None] * 100
    assert list(await second) == [None] * 50
    await sink.close()
    [request] = dingtalk_server.received
    text = request.json()["markdown"]["text"]
    assert "150 events" in text and "alarm.critical × 150" in text
    assert "disk full 2" in text and "disk full 3\n" not in text
    assert text.endswith("… and 147 more")


async def test_close_flushes_an_open_digest(dingtalk_server: DingTalkServer) -> None:
    clock = ManualClock(auto_advance=False)
    sink = DingTalkSink(target(dingtalk_server, digest={"window_seconds": 600}), clock=clock)
    await sink.setup()
    pending = asyncio.create_task(sink.deliver([event("a"), event("b", 1)]))
    await asyncio.sleep(0.05)
    await sink.close()
    assert list(await pending) == [None, None]
    assert len(dingtalk_server.received) == 1


async def test_loopback_refused_without_allow_private_network(
    dingtalk_server: DingTalkServer,
) -> None:
    # The literal is refused at validation (issue 22.5), with the field and the hint ...
    with pytest.raises(ConfigError, match=r"url: .*127\.0\.0\.1 is a loopback address.*allow_priv"):
        DingTalkSink(target(dingtalk_server, allow_private_network=False))
    # ... and a name resolving to loopback at delivery (issue 22.3): setup passes, every record
    # fails with the non-retriable refusal (dead letters, not a setup retried forever: 22.4).
    url = dingtalk_server.url.replace("127.0.0.1", "localhost")
    sink = DingTalkSink(
        target(dingtalk_server, url=url, allow_private_network=False), clock=ManualClock()
    )
    await sink.setup()
    outcomes = await sink.deliver([event("x"), event("y", 1)])
    assert all(isinstance(o, SsrfRefused) and not o.retriable for o in outcomes)
    assert dingtalk_server.received == []
    await sink.close()


async def test_unsigned_robot(dingtalk_server: DingTalkServer) -> None:
    dingtalk_server.secret = None
    sink = DingTalkSink(target(dingtalk_server, secret=None), clock=ManualClock())
    assert await deliver(sink, [event("hello")]) == [None]
    assert "sign" not in dingtalk_server.received[0].query


async def test_tokens_and_secrets_never_reach_the_logs(
    dingtalk_server: DingTalkServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dingtalk_server.queue(200, {"errcode": 400102, "errmsg": "robot disabled"})
    sink = DingTalkSink(target(dingtalk_server), clock=ManualClock())
    outcomes = await deliver(sink, [event("a"), event("b", 1)])
    assert isinstance(outcomes[0], FatalError) and outcomes[1] is None
    assert "delivery of kbridge.target.ops[0]@0" in caplog.text
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert "robot-token-1" not in text and "SECtest-secret" not in text
        assert "sign=" not in text


async def test_a_title_too_long_for_the_limit_is_fatal_not_retried(
    dingtalk_server: DingTalkServer,
) -> None:
    for oversize in ("split", "truncate"):
        sink = DingTalkSink(
            target(dingtalk_server, title="T" * 1100, max_bytes=1024, oversize=oversize),
            clock=ManualClock(),
        )
        [outcome] = await deliver(sink, [event("x" * 3000)])
        assert isinstance(outcome, FatalError) and outcome.code == "too-large"
    assert dingtalk_server.received == []


async def test_a_rendered_action_card_over_the_limit_is_fatal(
    dingtalk_server: DingTalkServer,
) -> None:
    sink = DingTalkSink(target(dingtalk_server, msgtype="actionCard"), clock=ManualClock())
    card = json.dumps({"title": "t", "text": "x" * 30_000, "btns": []})
    [outcome] = await deliver(sink, [event(card)])
    assert isinstance(outcome, FatalError) and outcome.code == "too-large"
