"""Where did my event go? (issue 18): gateway -> router -> sinks as subprocesses against the
real broker, each stage writing trace records, read back by ``kbridge trace`` and by
``GET /v1/events/<id>/trace``.

Both router engines write the router's records (Faust in the slow tier). One event is
delivered (accepted -> routed -> delivered), one is dead-lettered by a webhook
answering 400 (its trace shows the error), one matches no rule (unmatched). Every process
writes to a private trace topic (``KBRIDGE_TRACE__TOPIC``) so that parallel runs do not mix.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_pipeline import free_port, wait_for
from tests.support.kbridge import Kbridge

pytestmark = [pytest.mark.kafka]


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200 if self.path == "/ok" else 400)
        self.end_headers()
        self.wfile.write(b"" if self.path == "/ok" else b"bad request: no such channel")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def put(port: int, bus: str, entry: dict[str, Any]) -> str:
    body = json.dumps({"Entries": [{**entry, "EventBusName": bus}]}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/buses/{bus}/events",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        result = json.loads(answer.read())
    assert result["FailedEntryCount"] == 0, result
    return str(result["Entries"][0]["EventId"])


def trace(kbridge: Kbridge, event_id: str) -> dict[str, Any]:
    result = kbridge.run("trace", event_id, "-o", "json", "--since", "10m", check=False)
    if result.returncode not in (0, 3):
        raise AssertionError(result.stderr)
    return dict(json.loads(result.stdout))


def stages(timeline: dict[str, Any]) -> list[str]:
    return [step["stage"] for step in timeline["timeline"]]


@pytest.mark.parametrize("engine", ["native", pytest.param("faust", marks=pytest.mark.slow)])
def test_trace_accepted_routed_delivered_or_dead_lettered(
    kbridge: Kbridge, receiver: int, engine: str
) -> None:
    u = kbridge.unique
    bus = f"tr-{u}"
    kbridge.env["KBRIDGE_TRACE__TOPIC"] = f"kbridge.trace.test-{u}"
    kbridge.apply(f"""
buses: [{{name: {bus}, partitions: 2}}]
targets:
  - {{name: ok-{u}, kind: webhook, url: "http://127.0.0.1:{receiver}/ok",
      allow_private_network: true}}
  - {{name: bad-{u}, kind: webhook, url: "http://127.0.0.1:{receiver}/bad",
      allow_private_network: true}}
rules:
  - {{name: good-{u}, bus: {bus}, pattern: {{source: [acme.good]}}, targets: [{{target: ok-{u}}}]}}
  - {{name: doomed-{u}, bus: {bus}, pattern: {{source: [acme.doomed]}},
      targets: [{{target: bad-{u}}}]}}
""")
    port = free_port()
    kbridge.start("gateway", "--port", str(port), name="gateway")
    kbridge.start("router", "--engine", engine, "--group-id", f"trace-{u}", name="router")
    kbridge.start("sink", f"ok-{u}", name="sink-ok")
    kbridge.start("sink", f"bad-{u}", name="sink-bad")

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    wait_for(ready, 90, "the gateway to be ready\n" + kbridge.logs())
    good = put(port, bus, {"Source": "acme.good", "DetailType": "Order", "Detail": "{}"})
    doomed = put(port, bus, {"Source": "acme.doomed", "DetailType": "Order", "Detail": "{}"})
    nowhere = put(port, bus, {"Source": "acme.other", "DetailType": "Ping", "Detail": "{}"})

    wait_for(
        lambda: stages(trace(kbridge, good))[-1:] == ["delivered"],
        90,
        f"the delivered trace of {good}\n" + kbridge.logs(),
    )
    timeline = trace(kbridge, good)
    assert stages(timeline) == ["accepted", "routed", "delivered"]
    accepted, routed, delivered = timeline["timeline"]
    assert (accepted["bus"], accepted["source"], accepted["type"]) == (bus, "acme.good", "Order")
    assert accepted["by"] == "gateway" and accepted["offset"] >= 0
    assert routed["rules"] == [f"good-{u}"] and routed["targets"] == [f"ok-{u}"]
    assert delivered["target"] == f"ok-{u}" and delivered["attempts"] == 1
    assert delivered["latency_ms"] >= 0 and timeline["outcome"] == "delivered"

    wait_for(
        lambda: stages(trace(kbridge, doomed))[-1:] == ["dead-lettered"],
        90,
        f"the dead-lettered trace of {doomed}\n" + kbridge.logs(),
    )
    letter = trace(kbridge, doomed)["timeline"][-1]
    assert letter["target"] == f"bad-{u}" and letter["error_code"], letter
    assert "400" in letter["error_message"], letter

    wait_for(
        lambda: stages(trace(kbridge, nowhere)) == ["accepted", "unmatched"],
        60,
        "the unmatched trace\n" + kbridge.logs(),
    )

    # the same timeline over HTTP, and a clear 404 for an id never sent
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/v1/events/{good}/trace?since=10m", timeout=20
    ) as answer:
        assert [s["stage"] for s in json.loads(answer.read())["timeline"]] == stages(timeline)
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/events/nope-{u}/trace", timeout=20)
    assert missing.value.code == 404
    assert json.loads(missing.value.read())["error"]["code"] == "not-found"

    # the table form, and the search of recent events on the bus by source
    table = kbridge.run("trace", good, "--since", "10m").stdout
    assert "accepted" in table and "delivered" in table and f"ok-{u}" in table
    found = kbridge.run(
        "trace", "--bus", bus, "--source", "acme.doomed", "--since", "10m", "-o", "json"
    ).stdout.splitlines()
    assert [json.loads(line)["event_id"] for line in found] == [doomed]
    missing_cli = kbridge.run("trace", f"nope-{u}", "--since", "1m", check=False)
    assert missing_cli.returncode == 3 and "no trace" in missing_cli.stderr
