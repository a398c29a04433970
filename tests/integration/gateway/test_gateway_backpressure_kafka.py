"""Backpressure against a real broker that stops: fast answers, bounded memory, no loss.

A private single-node Kafka (deploy/kafka/kafka.sh on its own ports and data folder; the
shared broker on 9092 is never touched) serves a ``kbridge gateway --workers 1`` process.
Clients post PutEvents batches; the broker is stopped under load (acks=all cannot
succeed: the only node is gone), then started again. Checked:

* every request is answered within the ack timeout plus a margin (no hangs): 200 with
  per-entry ``OutcomeUnknown`` for records that were in flight when Kafka went away, then
  fast 503 + ``Retry-After`` (``kafka-unavailable``/``overloaded``) while it stays away;
* the gateway's RSS stays bounded by its in-flight budget during the storm of large
  requests and comes back near its baseline afterwards (issue 21 item 9);
* the gateway recovers by itself once the broker is back;
* every event answered with an ``EventId`` is in the topic afterwards (read back).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from processor.kafka.admin import TopicSpec, ensure_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.consumer import make_consumer
from processor.kafka.topics import bus_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

KAFKA_SH = Path(__file__).parents[3] / "deploy" / "kafka" / "kafka.sh"
ACK_TIMEOUT = 2.0
INFLIGHT = 8 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateKafka:
    """One Kafka node of our own (home folder and ports), stopped and started at will."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "KBRIDGE_KAFKA_HOME": str(home),
            "KBRIDGE_KAFKA_PORT": str(self.port),
            "KBRIDGE_KAFKA_CONTROLLER_PORT": str(free_port()),
            "KBRIDGE_KAFKA_SASL_PORT": str(free_port()),
        }
        self.bootstrap = f"127.0.0.1:{self.port}"

    def run(self, *args: str) -> None:
        subprocess.run(
            ["bash", str(KAFKA_SH), *args],
            env={**self.env, "NODE_ID": "1"},
            check=True,
            timeout=180,
            stdout=subprocess.DEVNULL,
        )


@pytest.fixture(scope="module")
def private_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateKafka]:
    kafka = PrivateKafka(tmp_path_factory.mktemp("kafka-backpressure"))
    kafka.run("start")
    try:
        yield kafka
    finally:
        kafka.run("kill")  # thrown away: no controlled shutdown to wait for


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def batch(n: int, detail_bytes: int) -> bytes:
    entries = [
        {
            "Source": "test.backpressure",
            "DetailType": "Load",
            "Detail": orjson.dumps({"n": n + i, "pad": "x" * detail_bytes}).decode(),
        }
        for i in range(10)
    ]
    return orjson.dumps({"Entries": entries})


class Tally:
    """Statuses, latencies and the ids the gateway accepted."""

    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.unknown: set[str] = set()
        self.statuses: dict[int, int] = {}
        self.codes: dict[str, int] = {}
        self.latencies: list[float] = []
        self.retry_after_missing = 0

    def record(self, response: httpx.Response, elapsed: float) -> None:
        self.latencies.append(elapsed)
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        if response.status_code == 200:
            for entry in response.json()["Entries"]:
                if "EventId" in entry:
                    self.accepted.add(entry["EventId"])
                else:
                    code = entry["ErrorCode"]
                    self.codes[code] = self.codes.get(code, 0) + 1
        elif response.status_code == 503:
            code = response.json()["error"]["code"]
            self.codes[code] = self.codes.get(code, 0) + 1
            if "retry-after" not in response.headers:
                self.retry_after_missing += 1


async def load(url: str, tally: Tally, seconds: float, clients: int, detail_bytes: int) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(worker: int) -> None:
            n = worker * 1_000_000
            while time.monotonic() < deadline:
                started = time.monotonic()
                response = await client.post(
                    url,
                    content=batch(n, detail_bytes),
                    headers={"content-type": "application/json"},
                )
                tally.record(response, time.monotonic() - started)
                n += 10
                if response.status_code == 503:
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(one(w) for w in range(clients)))


def read_ids(bootstrap: str, topic: str, group: str, expected: set[str]) -> set[str]:
    consumer = make_consumer(
        KafkaClientConfig(bootstrap_servers=bootstrap),
        group,
        **{"auto.offset.reset": "earliest", "enable.auto.commit": False},
    )
    consumer.subscribe([topic])
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not expected <= seen:
            for message in consumer.consume(1000, timeout=1.0):
                if message.error() is None:
                    headers = dict(message.headers() or [])
                    seen.add(headers["ce_id"].decode())
    finally:
        consumer.close()
    return seen


def test_broker_down_fast_503s_bounded_memory_recovery_no_loss(
    private_kafka: PrivateKafka, unique: str
) -> None:
    bus = f"bp-{unique}"
    topic = bus_topic(bus)
    ensure_topics(
        KafkaClientConfig(bootstrap_servers=private_kafka.bootstrap), [TopicSpec(topic, 3)]
    )
    port = free_port()
    env = {
        **os.environ,
        "KBRIDGE_KAFKA__BOOTSTRAP_SERVERS": private_kafka.bootstrap,
        "KBRIDGE_GATEWAY__ACK_TIMEOUT": str(ACK_TIMEOUT),
        "KBRIDGE_GATEWAY__MAX_INFLIGHT_BYTES": str(INFLIGHT),
        "KBRIDGE_LOG_LEVEL": "WARNING",
    }
    gateway = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "processor",
            "gateway",
            "--buses",
            bus,
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}/v1/buses/{bus}/events"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        tally = Tally()
        # Warm up with the large requests the storm uses, then take the baseline.
        asyncio.run(load(url, tally, 3, 4, 60_000))
        assert tally.statuses == {200: sum(tally.statuses.values())}
        baseline = rss_bytes(gateway.pid)

        private_kafka.run("stop-node")  # the only broker: acks=all cannot succeed
        storm = Tally()
        peak = [baseline]

        async def storm_with_rss() -> None:
            async def sample() -> None:
                while True:
                    peak[0] = max(peak[0], rss_bytes(gateway.pid))
                    await asyncio.sleep(0.05)

            sampler = asyncio.ensure_future(sample())
            await load(url, storm, 8, 32, 60_000)  # 32 clients x ~600 KB requests
            sampler.cancel()

        asyncio.run(storm_with_rss())
        # No hangs: every answer came within the ack timeout plus scheduling slack.
        assert max(storm.latencies) < ACK_TIMEOUT + 3, max(storm.latencies)
        assert storm.statuses.get(503, 0) > 0, storm.statuses
        assert set(storm.statuses) <= {200, 503}, storm.statuses
        assert storm.retry_after_missing == 0
        fast = sorted(storm.latencies)[len(storm.latencies) // 2]
        assert fast < 1.0, f"median answer {fast:.2f} s while Kafka is down"
        assert set(storm.codes) <= {"OutcomeUnknown", "kafka-unavailable", "overloaded"}
        # Memory: the in-flight budget (8 MiB) bounds what the storm can pin.
        assert peak[0] - baseline < 120 * 1024 * 1024, (baseline, peak[0])

        private_kafka.run("start")
        recovered = Tally()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not recovered.statuses.get(200):
            response = httpx.post(
                url, content=batch(0, 100), headers={"content-type": "application/json"}, timeout=30
            )
            if response.status_code == 200 and response.json()["FailedEntryCount"]:
                time.sleep(0.5)
                continue
            recovered.record(response, 0)
            time.sleep(0.5)
        assert recovered.statuses.get(200), "the gateway did not recover after the broker returned"
        after = rss_bytes(gateway.pid)
        assert after - baseline < 60 * 1024 * 1024, (baseline, peak[0], after)

        accepted = tally.accepted | storm.accepted | recovered.accepted
        seen = read_ids(private_kafka.bootstrap, topic, f"bp-read-{unique}", accepted)
        missing = accepted - seen
        assert not missing, f"{len(missing)} events answered with an EventId are not in Kafka"
        print(
            f"storm: {storm.statuses} {storm.codes}; median {fast * 1000:.0f} ms, max "
            f"{max(storm.latencies):.2f} s; RSS baseline {baseline >> 20} MiB, peak "
            f"{peak[0] >> 20} MiB, after {after >> 20} MiB; accepted {len(accepted)}, "
            f"in Kafka {len(seen)}"
        )
    finally:
        gateway.terminate()
        gateway.wait(30)
