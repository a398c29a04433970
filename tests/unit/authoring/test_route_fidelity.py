"""What ``kbridge route`` shows is what the sinks send: the same egress record delivered by
the real webhook and Slack sinks to a real HTTP server on loopback arrives with the headers
and body ``route`` printed."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from confluent_kafka import Message

from processor.authoring.route import Router
from processor.config import parse_config
from processor.router.core import route as core_route
from processor.router.records import InRecord
from processor.sinks.base import SinkContext
from processor.sinks.kinds import build_sink
from processor.sinks.records import to_delivery

Received = list[dict[str, Any]]


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    received: Received = []

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": self.rfile.read(length),
                }
            )
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_POST = do_PUT = _record

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()


CONFIG = """
buses: [{name: b}]
connections: [{name: key, kind: api_key, header: X-Api-Key, value: sesame}]
targets:
  - {name: hook, kind: webhook, url: "URL/in", method: PUT, headers: {X-Team: ops},
     connection: key, allow_private_network: true}
  - {name: chat, kind: slack, url: "URL/services/T/B/x", allow_private_network: true}
rules:
  - name: r
    bus: b
    pattern: {source: [shop]}
    targets:
      - {target: hook, transform: {path: $.data}}
      - target: chat
        transform: {input_paths: {id: $.data.id}, input_template: "order <id> created"}
"""
EVENT = {"specversion": "1.0", "id": "o-1", "source": "shop", "type": "order", "data": {"id": 7}}


def test_route_output_equals_what_the_sinks_send(receiver: tuple[str, Received]) -> None:
    base, received = receiver
    config = parse_config(CONFIG.replace("URL", base), env={})
    router = Router(config)
    shown = {t.target: t.sent for t in router.route(EVENT, bus="b").targets}

    # the same event as an ingress record through the core, delivered by the real sinks
    ingress = InRecord(
        "kbridge.bus.b",
        0,
        0,
        b"o-1",
        json.dumps(EVENT).encode(),
        [("content-type", b"application/cloudevents+json; charset=utf-8")],
        1_700_000_000_000,
    )
    connections = {c.name: c for c in config.connections}

    async def deliver() -> None:
        for out in core_route(router.table, ingress).records:
            message = Message(
                topic=out.topic,
                value=out.value,
                key=out.key,
                headers=list(out.headers),
                partition=0,
                offset=0,
                timestamp=(1, 1_700_000_000_000),
            )
            target = config.target(out.target or "")
            sink = build_sink(target.kind, target, SinkContext(target.name, connections))  # type: ignore[union-attr]
            await sink.setup()
            try:
                assert list(await sink.deliver([to_delivery(message)])) == [None]
            finally:
                await sink.close()

    asyncio.run(deliver())
    hook, chat = received
    webhook = shown["hook"]
    assert hook["method"] == webhook["method"] == "PUT"
    assert json.loads(hook["body"]) == webhook["body"] == {"id": 7}
    for name, value in webhook["headers"].items():
        if value == "***":  # the secret itself is masked in route's output
            assert hook["headers"][name.lower()] == "sesame"
        else:
            assert hook["headers"][name.lower()] == value, name
    [request] = shown["chat"]["requests"]
    assert chat["method"] == request["method"]
    assert json.loads(chat["body"]) == request["body"]
    assert request["body"]["text"] == "order 7 created"


def test_route_row_equals_the_row_the_mysql_sink_writes(mysql_url: str, unique: str) -> None:
    """The real MariaDB on loopback: the row `kbridge route` shows is the row stored."""
    import sqlalchemy as sa

    table = f"route_{unique}"
    text = f"""
buses: [{{name: b}}]
targets:
  - {{name: db, kind: mysql, url: "{mysql_url}", table: {table}, allow_private_network: true,
     columns: {{order_id: $.id}}}}
rules:
  - name: r
    bus: b
    pattern: {{source: [shop]}}
    targets: [{{target: db, transform: {{path: $.data}}}}]
"""
    config = parse_config(text, env={})
    router = Router(config)
    event = dict(EVENT, time="2026-12-07T10:00:00Z")
    [shown] = router.route(event, bus="b").targets
    ingress = InRecord(
        "kbridge.bus.b",
        0,
        0,
        b"o-1",
        json.dumps(event).encode(),
        [("content-type", b"application/cloudevents+json; charset=utf-8")],
        int(router_time(event) * 1000),
    )
    [out] = core_route(router.table, ingress).records
    message = Message(
        topic=out.topic,
        value=out.value,
        key=out.key,
        headers=list(out.headers),
        partition=0,
        offset=0,
        timestamp=(1, int(router_time(event) * 1000)),
    )
    sink = build_sink("mysql", config.target("db"))

    async def deliver() -> None:
        await sink.setup()
        try:
            assert list(await sink.deliver([to_delivery(message)])) == [None]
        finally:
            await sink.close()

    asyncio.run(deliver())
    engine = sa.create_engine(mysql_url)
    try:
        with engine.begin() as conn:
            stored = dict(conn.execute(sa.text(f"SELECT * FROM {table}")).mappings().one())
            conn.execute(sa.text(f"DROP TABLE {table}"))
    finally:
        engine.dispose()
    row = shown.sent["row"]
    assert set(row) <= set(stored)
    for column, value in row.items():
        got = stored[column]
        got = got.isoformat() if hasattr(got, "isoformat") else got
        if column == "data":
            assert json.loads(got) == json.loads(value) == {"id": 7}
        else:
            assert got == value, column


def router_time(event: dict[str, Any]) -> float:
    """The event's time as epoch seconds (the ingestion time route stamps)."""
    from datetime import datetime

    return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).timestamp()
