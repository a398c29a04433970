"""Signed webhooks through the router into the real broker, read back as CloudEvents."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
from confluent_kafka import Message
from fastapi import FastAPI

from processor.config.sources import GithubSource, TokenSource
from processor.events import CloudEvent, decode
from processor.gateway.webhooks import build_webhook_router, kafka_publisher
from processor.gateway.webhooks.github import github_signature
from processor.kafka import KafkaClientConfig, Producer, TopicSpec, ensure_topics, make_consumer
from processor.kafka.admin import delete_topics
from processor.kafka.topics import bus_topic

pytestmark = pytest.mark.kafka

SECRET = "It's a Secret to Everybody"
TOKEN = "tok-0123456789abcdef"


def read_events(
    config: KafkaClientConfig, topic: str, group: str, expected: int
) -> list[CloudEvent]:
    """The records on ``topic`` (a fresh one) decoded as CloudEvents: at least ``expected``
    within 30 s, plus anything that arrives in 2 more seconds (there should be nothing)."""
    consumer = make_consumer(config, group)
    consumer.subscribe([topic])
    events: list[CloudEvent] = []
    deadline = time.monotonic() + 30
    try:
        while len(events) < expected and time.monotonic() < deadline:
            events.extend(_decode_all(consumer.consume(100, timeout=1.0)))
        events.extend(_decode_all(consumer.consume(100, timeout=2.0)))
    finally:
        consumer.close()
    return events


def _decode_all(batch: list[Message]) -> list[CloudEvent]:
    for msg in batch:
        assert msg.error() is None, msg.error()
        assert msg.key() is not None
    return [decode(msg.value(), msg.headers()) for msg in batch]


async def test_signed_deliveries_land_on_the_bus_topic(kafka_bootstrap: str, unique: str) -> None:
    config = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    bus = f"wh-{unique}"
    topic = bus_topic(bus)
    ensure_topics(config, [TopicSpec(topic, partitions=2)])
    sources = {
        "gh": GithubSource(name="gh", bus=bus, secret=SECRET),
        "wj": TokenSource(name="wj", bus=bus, platform="questionnaire", token=TOKEN),
    }
    producer = Producer(config)
    app = FastAPI()
    app.include_router(build_webhook_router(sources.get, kafka_publisher(producer)))
    push = orjson.dumps({"ref": "refs/heads/main", "repository": {"full_name": "octo/hello"}})
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": f"delivery-{unique}",
        "X-Hub-Signature-256": github_signature(SECRET.encode(), push),
    }
    answer = orjson.dumps({"id": f"answer-{unique}", "action": "answer.create", "payload": {}})
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kbridge.test") as c:
            ok = await c.post("/v1/webhooks/gh", content=push, headers=headers)
            forged = await c.post(
                "/v1/webhooks/gh",
                content=push,
                headers={**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64},
            )
            survey = await c.post(f"/v1/webhooks/wj/{TOKEN}", content=answer)
        assert ok.status_code == 200, ok.text
        assert forged.status_code == 401
        assert survey.status_code == 200, survey.text
    finally:
        producer.close()

    try:
        events = read_events(config, topic, f"g-{unique}", expected=2)
    finally:
        delete_topics(config, [topic])
    by_source = {e.source: e for e in events}
    assert len(events) == 2, events
    github = by_source["saas.github"]
    assert (github.id, github.type, github.subject) == (f"delivery-{unique}", "push", "octo/hello")
    assert github.data == orjson.loads(push)
    survey_event = by_source["saas.questionnaire"]
    assert (survey_event.id, survey_event.type) == (f"answer-{unique}", "answer.create")
