"""Slack sink against a local incoming webhook (plain-text answers, 429 with Retry-After)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from im_platforms import SlackServer

from processor.errors import BackpressureError, FatalError, RetriableError
from processor.sinks.base import Delivery
from processor.sinks.im.clock import ManualClock
from processor.sinks.im.slack import SlackSink


def event(text: str, i: int = 0) -> Delivery:
    return Delivery(value=text.encode(), headers={"ce_id": f"e{i}", "ce_type": "alarm"}, offset=i)


def target(server: SlackServer, **overrides: Any) -> dict[str, Any]:
    return {"name": "ops-slack", "url": server.url, "allow_private_network": True, **overrides}


async def deliver(sink: SlackSink, batch: list[Delivery]) -> list[BaseException | None]:
    await sink.setup()
    try:
        return list(await sink.deliver(batch))
    finally:
        await sink.close()


async def test_text(slack_server: SlackServer) -> None:
    sink = SlackSink(target(slack_server), clock=ManualClock())
    assert await deliver(sink, [event("*db-1* disk full")]) == [None]
    assert slack_server.received[0].json() == {"text": "*db-1* disk full"}


async def test_blocks_from_text(slack_server: SlackServer) -> None:
    sink = SlackSink(target(slack_server, msgtype="blocks"), clock=ManualClock())
    text = "x" * 3500
    assert await deliver(sink, [event(text)]) == [None]
    body = slack_server.received[0].json()
    assert [len(b["text"]["text"]) for b in body["blocks"]] == [3000, 500]
    assert all(b["type"] == "section" and b["text"]["type"] == "mrkdwn" for b in body["blocks"])
    assert body["text"].endswith("…[truncated by kbridge]")


async def test_blocks_rendered_by_the_template(slack_server: SlackServer) -> None:
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "Alarm"}}]
    sink = SlackSink(target(slack_server, msgtype="blocks"), clock=ManualClock())
    payload = json.dumps({"text": "Alarm", "blocks": blocks})
    assert await deliver(sink, [event(payload)]) == [None]
    assert slack_server.received[0].json() == {"text": "Alarm", "blocks": blocks}


async def test_429_retry_after_is_honoured(slack_server: SlackServer) -> None:
    slack_server.queue(429, b"rate_limited", {"Retry-After": "30"})
    clock = ManualClock()
    sink = SlackSink(target(slack_server), clock=clock)
    outcomes = await deliver(sink, [event("a"), event("b", 1)])
    assert all(isinstance(o, BackpressureError) and o.retry_after == 30.0 for o in outcomes)
    assert len(slack_server.received) == 1
    assert sink.limiter.delay() == 30.0


async def test_server_errors_retry_client_errors_do_not(slack_server: SlackServer) -> None:
    slack_server.queue(500, b"rollup_error")
    slack_server.queue(404, b"channel_not_found")
    slack_server.queue(410, b"channel_is_archived")
    sink = SlackSink(target(slack_server), clock=ManualClock())
    outcomes = await deliver(sink, [event("a"), event("b", 1), event("c", 2), event("d", 3)])
    assert type(outcomes[0]) is RetriableError and "rollup_error" in str(outcomes[0])
    assert isinstance(outcomes[1], FatalError) and outcomes[1].code == "http-404"
    assert isinstance(outcomes[2], FatalError) and outcomes[2].code == "http-410"
    assert outcomes[3] is None


async def test_one_message_per_second(slack_server: SlackServer) -> None:
    clock = ManualClock()
    sink = SlackSink(target(slack_server, rate_per_second=0.5, burst=1), clock=clock)
    assert await deliver(sink, [event(str(i), i) for i in range(3)]) == [None] * 3
    assert clock.sleeps == pytest.approx([2.05, 2.05])


async def test_a_short_burst_goes_at_once_then_the_rate_applies(
    slack_server: SlackServer,
) -> None:
    # https://api.slack.com/docs/rate-limits: "Posting messages: 1 per second. Short bursts
    # >1 allowed." Default burst 3 at 1 message/s: three at once, the fourth 3 s later.
    clock = ManualClock()
    sink = SlackSink(target(slack_server), clock=clock)
    assert await deliver(sink, [event(str(i), i) for i in range(4)]) == [None] * 4
    assert clock.sleeps == pytest.approx([3.05])
    assert len(slack_server.received) == 4


async def test_unreachable_webhook_is_retriable(slack_server: SlackServer) -> None:
    url = slack_server.url
    slack_server.stop()
    sink = SlackSink(target(slack_server, url=url), clock=ManualClock())
    [outcome] = await deliver(sink, [event("a")])
    assert type(outcome) is RetriableError and outcome.code == "connection"
    assert "/services/" not in str(outcome)


async def test_blocks_never_exceed_fifty_sections(slack_server: SlackServer) -> None:
    sink = SlackSink(target(slack_server, msgtype="blocks"), clock=ManualClock())
    # Lines that break just past half a section make every section shorter than 3,000.
    text = "\n".join("y" * 1600 for _ in range(120))
    assert await deliver(sink, [event(text)]) == [None]
    blocks = slack_server.received[0].json()["blocks"]
    assert len(blocks) == 50
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks)
    assert blocks[-1]["text"]["text"].endswith("…[truncated by kbridge]")
