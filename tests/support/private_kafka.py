"""A Kafka node of one test alone (own home folder and ports), stopped and started at will.

Tests that take a broker away use this instead of the shared node on 9092, which every
other test (and engineer) relies on. deploy/kafka/kafka.sh keeps the data across a
stop/start, so a restarted node has the same topics and groups.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

KAFKA_SH = Path(__file__).parents[2] / "deploy" / "kafka" / "kafka.sh"


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateKafka:
    """One single-node cluster in ``home``; :meth:`run` is ``kafka.sh start|stop|kill``."""

    def __init__(self, home: Path) -> None:
        port = free_port()
        self.env = {
            **os.environ,
            "KBRIDGE_KAFKA_HOME": str(home),
            "KBRIDGE_KAFKA_PORT": str(port),
            "KBRIDGE_KAFKA_CONTROLLER_PORT": str(free_port()),
            "KBRIDGE_KAFKA_SASL_PORT": str(free_port()),
            "NODE_ID": "1",
        }
        self.bootstrap = f"127.0.0.1:{port}"

    def run(self, action: str) -> None:
        subprocess.run(
            ["bash", str(KAFKA_SH), action],
            env=self.env,
            check=True,
            timeout=180,
            stdout=subprocess.DEVNULL,
        )


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[PrivateKafka]:
    """A started private node, stopped after the test."""
    kafka = PrivateKafka(tmp_path / "kafka")
    kafka.run("start")
    try:
        yield kafka
    finally:
        kafka.run("kill")  # its data is thrown away: no controlled shutdown to wait for
