"""Every process over SASL_SSL only: gateway -> router (each engine) -> sink, and `apply`,
`get`, `dlq list` reading the same KBRIDGE_KAFKA__* settings; a wrong password fails fast
with an authentication error.

The processes get only the SASL_SSL bootstrap (127.0.0.1:9096 from `kafka.sh start
--sasl-ssl`), so a client that ignored the security settings could not reach Kafka at all.
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import boto3
import pytest

from tests.integration.kafka.conftest import SaslKafka
from tests.support.kbridge import Kbridge

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


class Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        Receiver.received.append(self.rfile.read(int(self.headers.get("content-length", 0))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[int]:
    Receiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


@pytest.fixture
def secured(kafka_sasl: SaslKafka, unique: str, tmp_path: Path) -> Iterator[Kbridge]:
    """kbridge processes whose only way to Kafka is the SASL_SSL listener."""
    runner = Kbridge(kafka_sasl.bootstrap, unique, tmp_path)
    runner.env.update(kafka_sasl.env())
    try:
        yield runner
    finally:
        runner.stop_all()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what()}")


@pytest.mark.parametrize("engine", ["native", "faust"])
def test_gateway_router_sink_over_sasl_ssl(secured: Kbridge, receiver: int, engine: str) -> None:
    u = secured.unique
    secured.apply(f"""
buses: [{{name: sec-{u}, partitions: 1}}]
targets:
  - {{name: hook-{u}, kind: webhook, url: "http://127.0.0.1:{receiver}/in",
      allow_private_network: true, body: raw}}
rules:
  - name: r-{u}
    bus: sec-{u}
    pattern: {{source: [secure.test]}}
    targets: [{{target: hook-{u}}}]
""")
    live = secured.run("get", "rules").stdout  # `get` reads kbridge.rules over SASL_SSL too
    assert f"r-{u}" in live

    port = free_port()
    secured.start("gateway", "--port", str(port), name="gateway")
    secured.start("router", "--engine", engine, "--group-id", f"sasl-{engine}-{u}", name="router")
    secured.start("sink", f"hook-{u}", name="sink")

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    wait_for(ready, 90, lambda: "the gateway's /readyz\n" + secured.logs())
    events = boto3.client(
        "events", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )
    answer = events.put_events(Entries=[
        {"EventBusName": f"sec-{u}", "Source": "secure.test", "DetailType": "t",
         "Detail": json.dumps({"n": i})}
        for i in range(3)
    ])
    assert answer["FailedEntryCount"] == 0, answer

    wait_for(lambda: len(Receiver.received) >= 3, 120, lambda: "deliveries\n" + secured.logs())
    bodies = [json.loads(body) for body in Receiver.received]
    # body: raw is the CloudEvent as JSON; PutEvents' Detail is its data
    assert sorted(b["data"]["n"] for b in bodies) == [0, 1, 2], bodies
    assert {b["source"] for b in bodies} == {"secure.test"}
    assert "Traceback" not in secured.logs()

    dlq = secured.run("dlq", "list", f"hook-{u}")  # the dead-letter reader, same settings
    assert dlq.returncode == 0, dlq.stderr
    replay = secured.run("replay", "--bus", f"sec-{u}", "--from", "2020-01-01T00:00:00Z")
    assert f"replayed 3 events from kbridge.bus.sec-{u}" in replay.stdout, replay.stderr


def test_wrong_password_is_an_authentication_error_not_a_hang(
    kafka_sasl: SaslKafka, unique: str, tmp_path: Path
) -> None:
    runner = Kbridge(kafka_sasl.bootstrap, unique, tmp_path)
    runner.env.update(kafka_sasl.env(password="not-the-password"))
    started = time.monotonic()
    result = runner.run("dlq", "list", f"t-{unique}", check=False)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    where = f"Kafka at {kafka_sasl.bootstrap} (SASL_SSL, SCRAM-SHA-512, user kbridge"
    assert where in result.stderr
    assert "refused the credentials" in result.stderr
    assert "Authentication failed" in result.stderr  # librdkafka's own reason, passed on
    assert elapsed < 40, elapsed


def test_router_with_a_wrong_password_exits_with_the_cause(
    kafka_sasl: SaslKafka, unique: str, tmp_path: Path
) -> None:
    """The router gives up on kbridge.rules as soon as the brokers refuse the password (not
    after its 60 s wait for the topic: waiting cannot cure it) and says why, not only
    "transport"; it exits 1 (a store thread outliving the error once crashed the exit)."""
    runner = Kbridge(kafka_sasl.bootstrap, unique, tmp_path)
    runner.env.update(kafka_sasl.env(password="not-the-password"))
    started = time.monotonic()
    result = runner.run("router", "--engine", "native", "--group-id", f"g-{unique}", check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    topic = f"kbridge.rules.test-{unique}"
    assert f"could not read {topic} from {kafka_sasl.bootstrap}" in result.stderr
    assert "  cause: Kafka at " in result.stderr
    assert "refused the credentials" in result.stderr
    assert result.stderr.count("  cause: ") == 1
    assert time.monotonic() - started < 30


def test_an_untrusted_broker_certificate_is_a_tls_error(
    kafka_sasl: SaslKafka, unique: str, tmp_path: Path
) -> None:
    """A CA that did not sign the broker's certificate: TLS fails, and the message says so."""
    other_ca = tmp_path / "other-ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=another CA", "-keyout", str(tmp_path / "other-ca.key"),
         "-out", str(other_ca)],
        check=True, capture_output=True,
    )
    runner = Kbridge(kafka_sasl.bootstrap, unique, tmp_path)
    runner.env.update({**kafka_sasl.env(), "KBRIDGE_KAFKA__SSL_CAFILE": str(other_ca)})
    result = runner.run("dlq", "list", f"t-{unique}", check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "TLS failed" in result.stderr
    assert "certificate verify failed" in result.stderr
    assert "KBRIDGE_KAFKA__SSL_CAFILE" in result.stderr


def test_kafka_source_over_sasl_ssl(secured: Kbridge, kafka_sasl: SaslKafka) -> None:
    """`kbridge source`: reads an upstream topic and writes the bus, both over SASL_SSL."""
    from confluent_kafka import Consumer, Producer
    from pydantic import SecretStr

    from processor.kafka.admin import TopicSpec, ensure_topics
    from processor.kafka.config import KafkaClientConfig

    u = secured.unique
    upstream = f"upstream-{u}"
    kafka = KafkaClientConfig(
        bootstrap_servers=kafka_sasl.bootstrap, security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_username="kbridge",
        sasl_password=SecretStr("kbridge-secret"), ssl_cafile=str(kafka_sasl.ca_file),
    )
    ensure_topics(kafka, [TopicSpec(upstream, 1)])
    secured.env["UPSTREAM_PASSWORD"] = "kbridge-secret"
    secured.apply(f"""
buses: [{{name: src-{u}, partitions: 1}}]
sources:
  - name: feed-{u}
    kind: kafka
    bus: src-{u}
    allow_private_network: true
    topics: [{upstream}]
    cluster:
      bootstrap_servers: "{kafka_sasl.bootstrap}"
      security_protocol: sasl_ssl
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: kbridge
      sasl_password: "${{UPSTREAM_PASSWORD}}"
      ssl_cafile: "{kafka_sasl.ca_file}"
""")
    producer = Producer(kafka_sasl.librdkafka())
    producer.produce(upstream, key=b"k1", value=json.dumps({"reading": 42}).encode())
    assert producer.flush(30) == 0
    secured.start("source", f"feed-{u}", name="source")

    consumer = Consumer({**kafka_sasl.librdkafka(), "group.id": f"check-{u}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([f"kbridge.bus.src-{u}"])
    try:
        deadline = time.monotonic() + 60
        got = None
        while got is None and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                got = message
    finally:
        consumer.close()
    assert got is not None, "nothing on the bus\n" + secured.logs()
    assert got.key() == b"k1"
    assert b"42" in (got.value() or b"")
