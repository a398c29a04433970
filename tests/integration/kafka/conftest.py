"""The SASL_SSL listener of ``deploy/kafka/kafka.sh start --sasl-ssl`` (started by make test).

``KBRIDGE_TEST_KAFKA_SASL`` (default 127.0.0.1:9096) and ``KBRIDGE_TEST_KAFKA_CA`` (default
the CA that kafka.sh writes, ``$KBRIDGE_KAFKA_HOME/tls/ca.crt``) point the tests at another
secured node, e.g. one started on other ports beside a shared plaintext broker.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SASL_BOOTSTRAP = os.environ.get("KBRIDGE_TEST_KAFKA_SASL", "127.0.0.1:9096")
KAFKA_HOME = Path(os.environ.get("KBRIDGE_KAFKA_HOME", ROOT / "deploy" / "kafka" / ".run"))
CA_FILE = Path(os.environ.get("KBRIDGE_TEST_KAFKA_CA", KAFKA_HOME / "tls" / "ca.crt"))
USER, PASSWORD = "kbridge", "kbridge-secret"  # what kafka.sh --sasl-ssl creates


@dataclass(frozen=True)
class SaslKafka:
    """Where the secured listener is and the KBRIDGE_KAFKA__* settings that reach it."""

    bootstrap: str
    ca_file: Path

    def env(self, password: str = PASSWORD) -> dict[str, str]:
        return {
            "KBRIDGE_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
            "KBRIDGE_KAFKA__SECURITY_PROTOCOL": "sasl_ssl",  # any case works
            "KBRIDGE_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
            "KBRIDGE_KAFKA__SASL_USERNAME": USER,
            "KBRIDGE_KAFKA__SASL_PASSWORD": password,
            "KBRIDGE_KAFKA__SSL_CAFILE": str(self.ca_file),
        }

    def librdkafka(self) -> dict[str, str]:
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": USER,
            "sasl.password": PASSWORD,
            "ssl.ca.location": str(self.ca_file),
        }


@pytest.fixture(scope="session")
def kafka_sasl() -> SaslKafka:
    """The SASL_SSL listener; fails loudly (with the command to start it) when absent."""
    host, _, port = SASL_BOOTSTRAP.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        pytest.fail(
            f"no SASL_SSL listener at {SASL_BOOTSTRAP}: run `deploy/kafka/kafka.sh stop && "
            "deploy/kafka/kafka.sh start --sasl-ssl` (make test does), or point "
            "KBRIDGE_TEST_KAFKA_SASL / KBRIDGE_TEST_KAFKA_CA at a secured node"
        )
    if not CA_FILE.is_file():
        pytest.fail(f"the CA of the SASL_SSL listener is missing: {CA_FILE}")
    return SaslKafka(SASL_BOOTSTRAP, CA_FILE)
