"""Shared fixtures: the real Kafka broker and MariaDB, unique names per test.

Integration tests talk to real services. Point them elsewhere with
``KBRIDGE_TEST_KAFKA`` (bootstrap servers) and ``KBRIDGE_TEST_MYSQL_URL``.
`.ci/run` (and `make test`) start both before pytest runs.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

from tests.support.kbridge import kbridge  # noqa: F401 - the CLI runner fixture, for every test

KAFKA_BOOTSTRAP = os.environ.get("KBRIDGE_TEST_KAFKA", "127.0.0.1:9092")
MYSQL_URL = os.environ.get(
    "KBRIDGE_TEST_MYSQL_URL", "mysql+pymysql://kbridge:kbridge@127.0.0.1:3306/kbridge_test"
)


def _reachable(hostport: str) -> bool:
    host, _, port = hostport.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap servers of the real broker; fails loudly when it is not running."""
    if not _reachable(KAFKA_BOOTSTRAP):
        pytest.fail(
            f"Kafka is not reachable at {KAFKA_BOOTSTRAP}: run `deploy/kafka/kafka.sh start` "
            "(or `make test`, which starts it)"
        )
    return KAFKA_BOOTSTRAP


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """SQLAlchemy URL of the real MariaDB test database."""
    if not _reachable("127.0.0.1:3306") and "127.0.0.1:3306" in MYSQL_URL:
        pytest.fail("MariaDB is not reachable on 127.0.0.1:3306: run `deploy/mariadb.sh start`")
    return MYSQL_URL


@pytest.fixture
def unique() -> Iterator[str]:
    """A short unique suffix for topic, group and table names of one test."""
    yield uuid.uuid4().hex[:10]
