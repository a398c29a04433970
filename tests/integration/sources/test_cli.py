"""``kbridge source <name> -f kbridge.yaml`` as a real process: runs, publishes, stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from processor.kafka.config import KafkaClientConfig
from processor.kafka.topics import bus_topic

pytestmark = [pytest.mark.kafka, pytest.mark.brokers]


async def test_kbridge_source_command_runs_an_mqtt_source(
    tmp_path: Path,
    kafka_config: KafkaClientConfig,
    bus: str,
    unique: str,
    reader: Any,
    broker: Any,
) -> None:
    broker.require("mosquitto")
    config = tmp_path / "kbridge.yaml"
    config.write_text(
        f"""
buses: [{{name: {bus}, partitions: 3}}]
sources:
  - name: cli-{unique}
    kind: mqtt
    url: mqtt://127.0.0.1:1883
    allow_private_network: true
    topics: ["cli{unique}/#"]
    bus: {bus}
"""
    )
    env = {**os.environ, "KBRIDGE_KAFKA__BOOTSTRAP_SERVERS": kafka_config.bootstrap_servers}
    process = subprocess.Popen(
        [sys.executable, "-m", "processor", "source", f"cli-{unique}", "-f", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    ingress = reader(bus_topic(bus))
    device = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    device.connect("127.0.0.1", 1883)
    device.loop_start()
    try:
        for _ in range(100):  # publish probes until the process has subscribed
            device.publish(f"cli{unique}/probe", b"{}", qos=1).wait_for_publish(5)
            if await ingress.wait_for(1, timeout=0.5):
                break
        for i in range(20):
            device.publish(f"cli{unique}/x", json.dumps({"n": i}), qos=1).wait_for_publish(5)

        def numbered() -> list[int]:
            return [e.data["n"] for e in ingress.events() if e.subject == f"cli{unique}/x"]

        for _ in range(60):
            if len(numbered()) >= 20:
                break
            await ingress.settle(0.5)
        assert numbered() == list(range(20))
    finally:
        device.loop_stop()
        device.disconnect()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output.decode()
    assert f"kbridge source cli-{unique}: kind=mqtt".encode() in output
