"""MQTT source against the real mosquitto on 127.0.0.1:1883."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from processor.config.sources import MqttSource as MqttConfig
from processor.kafka.producer import Producer
from processor.kafka.topics import bus_dlq_topic, bus_topic
from processor.sources.mqtt import MqttSource

pytestmark = [pytest.mark.kafka, pytest.mark.brokers]


def publisher(client_id: str) -> paho.Client:
    """The broker's normal client (paho), publishing QoS 1 like a device would."""
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
    )
    client.reconnect_delay_set(0.2, 1)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    return client


def config(bus: str, unique: str, *topics: str) -> MqttConfig:
    return MqttConfig(
        name=f"mqtt-{unique}",
        bus=bus,
        url="mqtt://127.0.0.1:1883",
        allow_private_network=True,
        topics=list(topics),
        qos=1,
    )


async def test_messages_arrive_as_cloudevents_in_order(
    bus: str, unique: str, producer: Producer, reader: Any, running: Any, broker: Any
) -> None:
    broker.require("mosquitto")
    ingress = reader(bus_topic(bus))
    source = MqttSource(config(bus, unique, f"t{unique}/+/temp"), producer)
    device = publisher(f"dev-{unique}")
    try:
        async with running(source, connected=True):
            infos = []
            for i in range(50):
                room = "a" if i % 2 else "b"
                body = json.dumps({"n": i, "room": room}).encode()
                infos.append(device.publish(f"t{unique}/{room}/temp", body, qos=1))
            infos.append(device.publish(f"t{unique}/a/temp", b"\xff\xfe raw", qos=1))
            for info in infos:
                info.wait_for_publish(10)
            await ingress.wait_for(51)
    finally:
        device.loop_stop()
        device.disconnect()
    events = ingress.events()
    assert len(events) == 51
    assert {e.source for e in events} == {"mqtt://127.0.0.1:1883"}
    assert {e.type for e in events} == {"mqtt.message"}
    json_events = [e for e in events if e.datacontenttype == "application/json"]
    for room in ("a", "b"):
        ns = [e.data["n"] for e in json_events if e.subject == f"t{unique}/{room}/temp"]
        assert ns == [n for n in range(50) if (n % 2 == 1) == (room == "a")]
    raw = [e for e in events if e.datacontenttype == "application/octet-stream"]
    assert [r.data for r in raw] == [b"\xff\xfe raw"]
    assert raw[0].to_json_dict()["data_base64"] == "//4gcmF3"
    keys = {m.key() for m in ingress.messages}
    assert keys == {f"t{unique}/a/temp".encode(), f"t{unique}/b/temp".encode()}


async def test_oversized_payload_goes_to_dead_letter_topic(
    bus: str, unique: str, producer: Producer, reader: Any, running: Any, broker: Any
) -> None:
    broker.require("mosquitto")
    dlq = reader(bus_dlq_topic(bus))
    ingress = reader(bus_topic(bus))
    source = MqttSource(config(bus, unique, f"big{unique}"), producer)
    device = publisher(f"dev-{unique}")
    try:
        async with running(source, connected=True):
            device.publish(f"big{unique}", b"x" * (300 * 1024), qos=1).wait_for_publish(10)
            device.publish(f"big{unique}", b'{"ok": true}', qos=1).wait_for_publish(10)
            await dlq.wait_for(1)
            await ingress.wait_for(1)
    finally:
        device.loop_stop()
        device.disconnect()
    [dead] = dlq.messages
    headers = dict(dead.headers())
    assert headers["kbridge-error-code"] == b"too-large"
    assert headers["kbridge-failed-stage"] == b"decode"
    assert b"exceeds" in headers["kbridge-error-message"]
    assert len(dead.value()) == 300 * 1024
    assert [e.data for e in ingress.events()] == [{"ok": True}]


async def test_broker_restart_mid_stream_loses_nothing(
    bus: str, unique: str, producer: Producer, reader: Any, running: Any, broker: Any
) -> None:
    broker.require("mosquitto")
    ingress = reader(bus_topic(bus))
    source = MqttSource(config(bus, unique, f"r{unique}"), producer)
    device = publisher(f"dev-{unique}")
    total = 200
    try:
        async with running(source, connected=True):
            for i in range(total // 2):
                device.publish(f"r{unique}", json.dumps({"n": i}), qos=1).wait_for_publish(10)
            await asyncio.to_thread(broker.script, "restart", "mosquitto")
            for _ in range(100):  # the device's own client reconnects by itself
                if device.is_connected():
                    break
                await asyncio.sleep(0.1)
            for i in range(total // 2, total):
                info = device.publish(f"r{unique}", json.dumps({"n": i}), qos=1)
                await asyncio.to_thread(info.wait_for_publish, 30)
            await ingress.wait_for(total, timeout=60)
    finally:
        device.loop_stop()
        device.disconnect()
    seen = {e.data["n"] for e in ingress.events()}
    assert seen == set(range(total))


async def test_messages_published_while_the_source_is_down_wait_for_it(
    bus: str, unique: str, producer: Producer, reader: Any, running: Any, broker: Any
) -> None:
    broker.require("mosquitto")
    ingress = reader(bus_topic(bus))
    device = publisher(f"dev-{unique}")
    try:
        async with running(
            MqttSource(config(bus, unique, f"off{unique}"), producer), connected=True
        ):
            for i in range(10):
                device.publish(f"off{unique}", json.dumps({"n": i}), qos=1).wait_for_publish(10)
            await ingress.wait_for(10)
        for i in range(10, 30):  # nobody connected: the broker queues them for our session
            device.publish(f"off{unique}", json.dumps({"n": i}), qos=1).wait_for_publish(10)
        async with running(MqttSource(config(bus, unique, f"off{unique}"), producer)):
            await ingress.wait_for(30)
            await ingress.settle(1.0)
    finally:
        device.loop_stop()
        device.disconnect()
    assert [e.data["n"] for e in ingress.events()] == list(range(30))


async def test_shared_subscription_splits_messages_between_two_processes(
    bus: str, unique: str, producer: Producer, reader: Any, running: Any, broker: Any
) -> None:
    broker.require("mosquitto")
    ingress = reader(bus_topic(bus))
    shared = config(bus, unique, f"$share/g{unique}/sh{unique}/#")
    first, second = MqttSource(shared, producer), MqttSource(shared, producer)
    first.client_id += "-a"  # two processes on one host differ by pid; here by suffix
    second.client_id += "-b"
    device = publisher(f"dev-{unique}")
    try:
        async with running(first, connected=True), running(second, connected=True):
            for i in range(40):
                device.publish(f"sh{unique}/x", json.dumps({"n": i}), qos=1).wait_for_publish(10)
            await ingress.wait_for(40)
            await ingress.settle(1.0)
    finally:
        device.loop_stop()
        device.disconnect()
    assert sorted(e.data["n"] for e in ingress.events()) == list(range(40))
    assert first.published > 0 and second.published > 0
    assert first.published + second.published == 40
