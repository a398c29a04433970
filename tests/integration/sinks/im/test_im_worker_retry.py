"""IM sinks driven by the worker's batch runner: rate-limit errors are retried, not lost.

``run_batch`` (processor/sinks/batch.py) is what the sink worker calls per partition; here
it shares the sink's manual clock, so a ten-minute throttle passes in microseconds.
"""

from __future__ import annotations

from typing import Any

from im_platforms import DingTalkServer, SlackServer

from processor.sinks.base import Delivery
from processor.sinks.batch import run_batch
from processor.sinks.im.clock import ManualClock
from processor.sinks.im.dingtalk import DingTalkSink
from processor.sinks.im.slack import SlackSink
from processor.sinks.retry import RetryLimits


def event(i: int, clock: ManualClock) -> Delivery:
    return Delivery(
        value=f"alarm {i}".encode(),
        headers={
            "ce_id": f"evt-{i}",
            "ce_type": "alarm",
            "kbridge-ingested-at": str(int(clock.time() * 1000)),
        },
        offset=i,
    )


def limits(_: Delivery) -> RetryLimits:
    return RetryLimits(max_attempts=10, max_age=3600)


def dingtalk(server: DingTalkServer, clock: ManualClock, **overrides: Any) -> DingTalkSink:
    return DingTalkSink(
        {
            "name": "ops",
            "url": server.url,
            "secret": server.secret,
            "allow_private_network": True,
            **overrides,
        },
        clock=clock,
    )


async def test_throttled_robot_is_retried_after_its_penalty(
    dingtalk_server: DingTalkServer,
) -> None:
    dingtalk_server.queue(200, {"errcode": 410100, "errmsg": "send too fast"})
    clock = ManualClock()
    sink = dingtalk(dingtalk_server, clock)
    await sink.setup()
    batch = [event(i, clock) for i in range(3)]
    result = await run_batch(sink, batch, limits_for=limits, wait=clock.sleep, clock=clock.time)
    await sink.close()
    assert result.delivered == 3 and result.dead_letters == []
    assert clock.monotonic() >= 600.0  # DingTalk's ten-minute throttle was honoured
    texts = [r.json()["markdown"]["text"] for r in dingtalk_server.received]
    assert texts == ["alarm 0", "alarm 0", "alarm 1", "alarm 2"]


async def test_a_burst_beyond_the_limit_is_delivered_over_minutes(
    dingtalk_server: DingTalkServer,
) -> None:
    clock = ManualClock()
    sink = dingtalk(dingtalk_server, clock, max_wait_seconds=5)
    await sink.setup()
    batch = [event(i, clock) for i in range(50)]
    result = await run_batch(sink, batch, limits_for=limits, wait=clock.sleep, clock=clock.time)
    await sink.close()
    assert result.delivered == 50 and result.dead_letters == []
    assert dingtalk_server.violations == []  # never more than 20 in a signed minute
    assert len(dingtalk_server.received) == 50
    assert clock.monotonic() >= 120.0


async def test_wrong_signature_goes_straight_to_dead_letters(
    dingtalk_server: DingTalkServer,
) -> None:
    clock = ManualClock()
    sink = dingtalk(dingtalk_server, clock, secret="SECnot-the-secret")
    await sink.setup()
    result = await run_batch(
        sink, [event(0, clock)], limits_for=limits, wait=clock.sleep, clock=clock.time
    )
    await sink.close()
    assert result.delivered == 0
    [letter] = result.dead_letters
    assert letter.attempts == 1 and letter.error.code == "dingtalk-310000"  # type: ignore[attr-defined]


async def test_slack_retry_after_is_honoured_by_the_runner(slack_server: SlackServer) -> None:
    slack_server.queue(429, b"rate_limited", {"Retry-After": "45"})
    clock = ManualClock()
    sink = SlackSink(
        {"name": "s", "url": slack_server.url, "allow_private_network": True}, clock=clock
    )
    await sink.setup()
    result = await run_batch(
        sink, [event(0, clock)], limits_for=limits, wait=clock.sleep, clock=clock.time
    )
    await sink.close()
    assert result.delivered == 1
    assert len(slack_server.received) == 2
    assert clock.monotonic() >= 45.0
