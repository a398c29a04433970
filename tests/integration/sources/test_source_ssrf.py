"""SSRF guard on the broker sources (issue 22 item 3): MQTT, AMQP and NATS sources refuse a
broker on a loopback/private address unless ``allow_private_network`` is set, and connect to
the real local brokers when it is. A refusal ends the source (``ssrf-refused``), it is not
retried forever."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from processor.config.sources import AmqpSource as AmqpConfig
from processor.config.sources import MqttSource as MqttConfig
from processor.config.sources import NatsSource as NatsConfig
from processor.kafka.producer import Producer
from processor.netguard import SsrfRefused
from processor.sources.amqp import AmqpSource
from processor.sources.mqtt import MqttSource
from processor.sources.nats import NatsSource

pytestmark = [pytest.mark.kafka, pytest.mark.brokers]

KINDS: dict[str, tuple[str, str, Any, Any, dict[str, Any]]] = {
    # kind: (broker process, url via localhost, config model, source class, extra fields)
    "mqtt": ("mosquitto", "mqtt://localhost:1883", MqttConfig, MqttSource, {"topics": ["g/#"]}),
    "amqp": (
        "rabbitmq",
        "amqp://guest:guest@localhost:5672/",
        AmqpConfig,
        AmqpSource,
        {"queue": "kbridge-ssrf"},
    ),
    "nats": ("nats", "nats://localhost:4222", NatsConfig, NatsSource, {"subject": "ssrf.>"}),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_loopback_broker_is_refused_unless_allowed(
    kind: str, bus: str, unique: str, producer: Producer, broker: Any
) -> None:
    process, url, model, source_class, extra = KINDS[kind]
    broker.require(process)
    refused = source_class(model(name=f"{kind}-{unique}", bus=bus, url=url, **extra), producer)
    with pytest.raises(SsrfRefused, match=r"localhost \(127\.0\.0\.1\): .*allow_private_network"):
        await asyncio.wait_for(refused.run(), 30)
    assert refused.published == 0

    allowed = source_class(
        model(name=f"{kind}-{unique}", bus=bus, url=url, allow_private_network=True, **extra),
        producer,
    )
    task = asyncio.create_task(allowed.run())
    await asyncio.sleep(2.0)  # connected and consuming: no refusal, no failed session
    assert not task.done(), task.exception() if task.done() else None
    assert allowed.session_failures == 0
    await allowed.stop()
    await asyncio.wait_for(task, 30)
