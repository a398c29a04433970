"""The whole pipeline as a user runs it: boto3 PutEvents → gateway → router → sink workers
→ a webhook receiver on loopback and a MySQL-dialect table (MariaDB), all as subprocesses."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import ClassVar

import boto3
import pytest
import sqlalchemy as sa

from tests.support.kbridge import Kbridge

pytestmark = [pytest.mark.kafka, pytest.mark.mariadb]


class Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[int]:
    Receiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_putevents_to_webhook_and_mysql(kbridge: Kbridge, receiver: int, mysql_url: str) -> None:
    u = kbridge.unique
    table = f"kms_{u}"
    kbridge.apply(f"""
buses: [{{name: default, partitions: 2}}, {{name: ops-{u}, partitions: 2}}]
targets:
  - {{name: hook-{u}, kind: webhook, url: "http://127.0.0.1:{receiver}/alarm",
      allow_private_network: true, body: raw}}
  - {{name: db-{u}, kind: mysql, url: "{mysql_url}", table: {table},
      allow_private_network: true}}
rules:
  - name: alarms-{u}
    bus: ops-{u}
    pattern: {{detail-type: [Alarm], detail: {{severity: [critical]}}}}
    targets:
      - target: hook-{u}
        transform:
          input_paths: {{host: "$.detail.host"}}
          input_template: '{{"text": "host <host> is down"}}'
  - name: kms-{u}
    bus: ops-{u}
    pattern: {{source: [acme.kms]}}
    targets: [{{target: db-{u}}}]
""")
    port = free_port()
    kbridge.start("gateway", "--port", str(port), name="gateway")
    kbridge.start("router", "--engine", "native", "--group-id", f"pipe-{u}", name="router")
    kbridge.start("sink", f"hook-{u}", name="sink-hook")
    kbridge.start("sink", f"db-{u}", name="sink-db")

    events = boto3.client(
        "events",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )

    def put(entries: list[dict[str, str]]) -> dict[str, object]:
        return events.put_events(Entries=entries)  # type: ignore[no-any-return]

    def gateway_ready() -> bool:
        # ready = Kafka reachable and the config store caught up (buses known)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    wait_for(gateway_ready, 90, "the gateway to be ready\n" + kbridge.logs())

    alarms = [
        {
            "EventBusName": f"ops-{u}",
            "Source": "cloud.monitor",
            "DetailType": "Alarm",
            "Detail": json.dumps({"severity": sev, "host": f"db-{i}"}),
        }
        for i, sev in enumerate(["critical", "info", "critical"])
    ]
    kms = [
        {
            "EventBusName": f"ops-{u}",
            "Source": "acme.kms",  # "aws." sources are reserved for AWS (refused)
            "DetailType": "KMS Key Rotation",
            "Detail": json.dumps({"keyId": f"k-{i}"}),
        }
        for i in range(5)
    ]
    answer = put(alarms + kms)
    assert answer["FailedEntryCount"] == 0, answer
    kms_ids = {entry["EventId"] for entry in answer["Entries"][3:]}  # type: ignore[index]

    wait_for(lambda: len(Receiver.received) >= 2, 90, "webhook deliveries\n" + kbridge.logs())
    texts = sorted(json.loads(body)["text"] for _, body in Receiver.received)
    assert texts == ["host db-0 is down", "host db-2 is down"]

    engine = sa.create_engine(mysql_url)

    def rows() -> list[str]:
        try:
            with engine.connect() as conn:
                return [r[0] for r in conn.execute(sa.text(f"SELECT id FROM {table}"))]
        except sa.exc.ProgrammingError:
            return []

    wait_for(lambda: len(rows()) >= 5, 90, "MySQL rows\n" + kbridge.logs())
    assert set(rows()) == kms_ids
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {table}"))
