"""The MySQL dump through the worker on real MariaDB: 10,000 exact rows, replay, outage."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from sink_support import (
    FAST,
    StaticConfig,
    committed,
    end_offsets,
    make_topics,
    produce,
    running,
    until,
)

from processor.config.targets import MysqlTarget
from processor.kafka import KafkaClientConfig
from processor.kafka.topics import target_topic
from processor.sinks.retry import Backoff
from processor.sinks.worker import SinkWorker

pytestmark = [pytest.mark.kafka, pytest.mark.mariadb]

MARIADB_SH = Path(__file__).resolve().parents[3] / "deploy" / "mariadb.sh"
# The issue asks for a 30 s outage; KBRIDGE_TEST_DB_OUTAGE shortens it for quick local runs.
OUTAGE_SECONDS = float(os.environ.get("KBRIDGE_TEST_DB_OUTAGE", "30"))


def _value(i: int) -> bytes:
    return orjson.dumps({"keyId": f"key-{i}", "op": "rotate", "n": i, "pad": "k" * 100})


def _count(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"select count(*) from `{table}`")).scalar_one())
    finally:
        engine.dispose()


def _drop(url: str, table: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"drop table if exists `{table}`"))
    engine.dispose()


async def test_ten_thousand_events_exact_and_replay_adds_no_rows(
    kafka_bootstrap: str, mysql_url: str, unique: str
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    name = f"dump-{unique}"
    table = f"dump_{unique}"
    make_topics(kafka, name)
    target = MysqlTarget(
        name=name,
        url=mysql_url,
        table=table,
        columns={"key_id": "$.keyId"},
        batch_size=500,
        allow_private_network=True,
    )
    config = StaticConfig(targets={name: target})
    produce(kafka, target_topic(name), 10_000, value=_value)
    worker = SinkWorker(name, kafka=kafka, snapshot=lambda: config, settings=FAST)
    try:
        async with running(worker):
            await until(lambda: worker.delivered >= 10_000, timeout=120, what="10k rows")
        assert _count(mysql_url, table) == 10_000
        engine = sa.create_engine(mysql_url)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(f"select id, source, type, data, rule, key_id from `{table}`")
            ).all()
        engine.dispose()
        expected = {f"evt-{i}": orjson.loads(_value(i)) for i in range(10_000)}
        assert {r[0]: orjson.loads(r[3]) for r in rows} == expected
        assert {(r[1], r[2], r[4]) for r in rows} == {("test.source", "test.created", "r1")}
        assert {orjson.loads(r[5]) for r in rows} == {f"key-{i}" for i in range(10_000)}
        assert committed(kafka, name) == end_offsets(kafka, target_topic(name))

        # replay: the same 10,000 events again, delivered again, still 10,000 rows
        produce(kafka, target_topic(name), 10_000, value=_value)
        worker = SinkWorker(name, kafka=kafka, snapshot=lambda: config, settings=FAST)
        async with running(worker):
            await until(lambda: worker.delivered >= 10_000, timeout=120, what="replay")
        assert _count(mysql_url, table) == 10_000
    finally:
        _drop(mysql_url, table)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateMariaDB:
    """A MariaDB server of this test alone, so stopping it disturbs no other test."""

    def __init__(self, home: Path) -> None:
        self.port = _free_port()
        self.env = {
            **os.environ,
            "KBRIDGE_MARIADB_HOME": str(home),
            "KBRIDGE_MARIADB_PORT": str(self.port),
        }
        self.url = f"mysql+pymysql://kbridge:kbridge@127.0.0.1:{self.port}/kbridge_test"

    def _run(self, action: str) -> None:
        subprocess.run([str(MARIADB_SH), action], env=self.env, check=True, capture_output=True)

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")


@pytest.fixture
def private_mariadb(tmp_path: Path) -> Iterator[PrivateMariaDB]:
    server = PrivateMariaDB(tmp_path / "mariadb")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
async def test_database_down_during_delivery_loses_nothing(
    kafka_bootstrap: str,
    private_mariadb: PrivateMariaDB,
    unique: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 21 item 5: the outage is one condition. With production retry backoff (per
    record up to 600 s), the backlog still drains within seconds of the database's return,
    and the log says "down" and "back" once instead of a line per record per attempt."""
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    name = f"outage-{unique}"
    table = f"outage_{unique}"
    make_topics(kafka, name)
    config = StaticConfig(
        targets={
            name: MysqlTarget(
                name=name,
                url=private_mariadb.url,
                table=table,
                batch_size=100,
                allow_private_network=True,
            )
        }
    )
    produce(kafka, target_topic(name), 2_000, value=_value)
    settings = dataclasses.replace(FAST, backoff=Backoff())  # production per-record backoff
    worker = SinkWorker(name, kafka=kafka, snapshot=lambda: config, settings=settings)
    caplog.set_level(logging.INFO, logger="processor.sinks")
    async with running(worker):
        await until(lambda: worker.delivered >= 300, timeout=60, what="first rows")
        await asyncio.to_thread(private_mariadb.stop)
        produce(kafka, target_topic(name), 3_000, start=2_000, value=_value)
        await asyncio.sleep(OUTAGE_SECONDS)
        stalled = worker.delivered
        await asyncio.to_thread(private_mariadb.start)  # returns once it accepts connections
        back = time.monotonic()
        await until(lambda: worker.delivered >= 5_000, timeout=120, what="all rows after restart")
        drained = time.monotonic() - back
    assert stalled < 5_000  # the outage really interrupted delivery
    # resumed within the outage backoff's 2 s cap (plus the remaining rows' write time)
    assert drained < 10.0, f"backlog drained {drained:.1f}s after the database returned"
    down = [r for r in caplog.records if "is unreachable" in r.getMessage()]
    back_up = [r for r in caplog.records if "reachable again" in r.getMessage()]
    # one line per state change, not per record and attempt: a server that is shutting
    # down may still answer one attempt ("Lost connection", then a success, then "refused"),
    # which is a real down-up-down flap and logs as such (seen once in CI's run)
    assert 1 <= len(down) <= 2 and len(back_up) == len(down)
    sink_lines = [
        r
        for r in caplog.records
        if r.levelno >= logging.INFO and r.name.startswith("processor.sinks")
    ]
    assert len(sink_lines) < 40, [r.getMessage() for r in sink_lines[:50]]
    assert worker.dead_lettered == 0
    assert _count(private_mariadb.url, table) == 5_000
    assert committed(kafka, name) == end_offsets(kafka, target_topic(name))
