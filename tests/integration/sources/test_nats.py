"""NATS source against the real nats-server (JetStream) on 127.0.0.1:4222."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import pytest

from processor.config.sources import NatsSource as NatsConfig
from processor.kafka.producer import Producer
from processor.kafka.topics import bus_topic
from processor.sources.nats import NatsSource

pytestmark = [pytest.mark.kafka, pytest.mark.brokers]
URL = "nats://127.0.0.1:4222"


async def js_publish(subject: str, bodies: list[bytes], stream: str) -> None:
    """Publish with JetStream acknowledgements, retrying while the server restarts."""
    for body in bodies:
        for attempt in range(100):
            try:
                client = await nats.connect(URL, allow_reconnect=False, connect_timeout=2)
                break
            except Exception:
                if attempt == 99:
                    raise
                await asyncio.sleep(0.2)
        try:
            js = client.jetstream()
            for _ in range(100):
                try:
                    await js.publish(subject, body, stream=stream, timeout=2)
                    break
                except Exception:
                    await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"could not publish {body!r}")
        finally:
            await client.close()


async def publish_many(subject: str, bodies: list[bytes], stream: str) -> None:
    client = await nats.connect(URL)
    try:
        js = client.jetstream()
        for body in bodies:
            await js.publish(subject, body, stream=stream)
    finally:
        await client.close()


async def test_jetstream_messages_arrive_in_order_with_stable_ids(
    bus: str, unique: str, producer: Producer, reader: Any, running: Any, broker: Any
) -> None:
    broker.require("nats")
    stream, subject = f"S{unique}", f"orders{unique}.created"
    ingress = reader(bus_topic(bus))
    config = NatsConfig(
        name=f"nats-{unique}",
        bus=bus,
        url=URL,
        allow_private_network=True,
        subject=f"orders{unique}.>",
        stream=stream,
    )
    async with running(NatsSource(config, producer), connected=True):
        await publish_many(subject, [json.dumps({"n": i}).encode() for i in range(100)], stream)
        await publish_many(f"orders{unique}.raw", [b"\x00\x01"], stream)
        await ingress.wait_for(101)
    events = ingress.events()
    ordered = [e for e in events if e.subject == subject]
    [raw] = [e for e in events if e.subject == f"orders{unique}.raw"]
    assert [e.data["n"] for e in ordered] == list(range(100))
    assert [e.id for e in ordered] == [f"{stream}:{seq}" for seq in range(1, 101)]
    assert raw.id == f"{stream}:101"
    assert {e.source for e in events} == {URL}
    assert (raw.datacontenttype, raw.data) == ("application/octet-stream", b"\x00\x01")


async def test_durable_consumer_resumes_and_broker_restart_loses_nothing(
    bus: str, unique: str, producer: Producer, reader: Any, running: Any, broker: Any
) -> None:
    broker.require("nats")
    stream, subject = f"R{unique}", f"r{unique}"
    ingress = reader(bus_topic(bus))
    config = NatsConfig(
        name=f"nats-{unique}",
        bus=bus,
        url=URL,
        allow_private_network=True,
        subject=subject,
        stream=stream,
    )
    total = 150
    async with running(NatsSource(config, producer), connected=True):
        await publish_many(subject, [json.dumps({"n": i}).encode() for i in range(50)], stream)
        await ingress.wait_for(50)
    # source stopped: these wait in the stream for the durable consumer
    await publish_many(subject, [json.dumps({"n": i}).encode() for i in range(50, 100)], stream)
    async with running(NatsSource(config, producer)):
        await asyncio.to_thread(broker.script, "restart", "nats")
        await js_publish(
            subject, [json.dumps({"n": i}).encode() for i in range(100, total)], stream
        )
        await ingress.wait_for(total, timeout=60)
        await ingress.settle(1.0)
    numbers = [e.data["n"] for e in ingress.events()]
    assert set(numbers) == set(range(total))


async def test_core_nats_subscription_without_jetstream(
    bus: str, unique: str, producer: Producer, reader: Any, running: Any, broker: Any
) -> None:
    broker.require("nats")
    ingress = reader(bus_topic(bus))
    config = NatsConfig(
        name=f"nats-{unique}",
        bus=bus,
        url=URL,
        allow_private_network=True,
        subject=f"core{unique}.*",
    )
    async with running(NatsSource(config, producer)):
        await asyncio.sleep(1.0)  # subscribed
        client = await nats.connect(URL)
        try:
            for i in range(20):
                await client.publish(f"core{unique}.a", json.dumps({"n": i}).encode())
            await client.publish(
                f"core{unique}.b", b"<x/>", headers={"Content-Type": "application/xml"}
            )
            await client.flush()
        finally:
            await client.close()
        await ingress.wait_for(21)
    events = ingress.events()
    assert [e.data["n"] for e in events if e.subject == f"core{unique}.a"] == list(range(20))
    [xml] = [e for e in events if e.subject == f"core{unique}.b"]
    assert (xml.datacontenttype, xml.data) == ("application/xml", "<x/>")
