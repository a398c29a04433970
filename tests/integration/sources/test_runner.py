"""SourceRunner: a changed definition restarts the source, a deleted one ends the run."""

from __future__ import annotations

import asyncio
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from processor.config.sources import MqttSource as MqttConfig
from processor.kafka.config import KafkaClientConfig
from processor.kafka.topics import bus_topic
from processor.sources.runner import SourceRunner

pytestmark = [pytest.mark.kafka, pytest.mark.brokers]


async def test_definition_change_restarts_and_delete_ends(
    kafka_config: KafkaClientConfig, bus: str, unique: str, reader: Any, broker: Any
) -> None:
    broker.require("mosquitto")

    def definition(topic: str) -> MqttConfig:
        return MqttConfig(
            name=f"live-{unique}",
            bus=bus,
            url="mqtt://127.0.0.1:1883",
            allow_private_network=True,
            topics=[topic],
        )

    ingress = reader(bus_topic(bus))
    device = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    device.connect("127.0.0.1", 1883)
    device.loop_start()
    runner = SourceRunner(f"live-{unique}", definition(f"old{unique}"), kafka_config)
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.sleep(1.5)
        first = runner.source
        device.publish(f"old{unique}", b'{"v": "old"}', qos=1).wait_for_publish(5)
        await ingress.wait_for(1)

        runner.replace(definition(f"new{unique}"))
        for _ in range(100):
            if runner.source is not first:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)
        assert runner.source is not first
        # the old subscription survives in the persistent session: it must be ignored
        device.publish(f"old{unique}", b'{"v": "stale"}', qos=1).wait_for_publish(5)
        device.publish(f"new{unique}", b'{"v": "new"}', qos=1).wait_for_publish(5)
        await ingress.wait_for(2)
        await ingress.settle(1.5)

        runner.replace(None)
        await asyncio.wait_for(task, 20)
    finally:
        device.loop_stop()
        device.disconnect()
        if not task.done():
            runner.shutdown()
            await asyncio.wait_for(task, 20)
    assert [e.data["v"] for e in ingress.events()] == ["old", "new"]
