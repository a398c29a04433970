"""The gateway's HTTP protocol (processor/gateway/protocol.py) over a real loopback socket.

Two uvicorn servers run the same app (a producer that acknowledges at once, so no broker
is needed): one with ``GatewayProtocol``, as ``kbridge gateway`` serves, one with uvicorn's
own httptools protocol. Every request shape must get the same answer from both (status,
headers but ``date``, body), the hot routes must actually be answered by the protocol, and
HTTP/1.1 connection handling (keep-alive, pipelining, ``Connection: close``, HTTP/1.0,
chunked bodies, a client that goes away) must hold.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gateway_harness
import orjson
import pytest

from processor.gateway import protocol as gateway_protocol
from processor.gateway.app import create_app
from processor.gateway.protocol import GatewayProtocol
from processor.settings import Settings
from tests.support.producers import RecordingProducer

ENTRY = {"Source": "acme", "DetailType": "Order", "Detail": '{"n": 1}', "EventId": "e-1"}


@contextmanager
def serve(http: Any, **options: Any) -> Iterator[tuple[int, RecordingProducer]]:
    producer = RecordingProducer()
    app = create_app(Settings(), known_buses=["orders"], producer=producer)
    with gateway_harness.serve(app, http, **options) as url:
        yield int(url.rsplit(":", 1)[1]), producer


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[int, RecordingProducer]]]:
    with serve(GatewayProtocol) as ours, serve("httptools") as uvicorns:
        yield {"ours": ours, "uvicorn": uvicorns}


@pytest.fixture
def answered_by_protocol(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Statuses of the responses ``GatewayProtocol`` wrote itself."""
    seen: list[int] = []
    original = gateway_protocol.GatewayProtocol._respond

    def spy(self: Any, answering: Any, answer: Any) -> None:
        seen.append(answer[0])
        original(self, answering, answer)

    monkeypatch.setattr(gateway_protocol.GatewayProtocol, "_respond", spy)
    return seen


def request(
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    version: str = "1.1",
) -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body and "transfer-encoding" not in (headers or {}):
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One response from ``sock`` (``buffer`` keeps what was read beyond it)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a body"
        rest += chunk
    buffer[:] = rest[length:]
    return status, headers, rest[:length]


def exchange(port: int, raw: bytes, count: int = 1) -> list[tuple[int, dict[str, str], bytes]]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        buffer = bytearray()
        return [read_response(sock, buffer) for _ in range(count)]


def putevents(entries: list[dict[str, Any]], bus: str = "orders") -> bytes:
    body = orjson.dumps({"Entries": entries})
    return request("POST", f"/v1/buses/{bus}/events", body, {"content-type": "application/json"})


CE_HEADERS = {
    "content-type": "application/json",
    "ce-specversion": "1.0",
    "ce-id": "c-1",
    "ce-source": "/acme",
    "ce-type": "t",
}

SHAPES: dict[str, tuple[bytes, int]] = {
    "putevents": (putevents([ENTRY]), 200),
    "putevents, an invalid entry among valid ones": (
        putevents([ENTRY, {**ENTRY, "Detail": "[1]", "EventId": "e-2"}]),
        200,
    ),
    "putevents, unknown bus": (putevents([ENTRY], bus="nope"), 404),
    "putevents, malformed JSON": (
        request("POST", "/v1/buses/orders/events", b"{", {"content-type": "application/json"}),
        400,
    ),
    "putevents, wrong content type (guard)": (
        request("POST", "/v1/buses/orders/events", b"{}", {"content-type": "text/plain"}),
        415,
    ),
    "putevents, declared body over the limit (guard)": (
        request(
            "POST",
            "/v1/buses/orders/events",
            b"{}",
            {"content-type": "application/json", "content-length": "999999999"},
        ).replace(b"content-length: 2\r\n", b""),
        413,
    ),
    "putevents, foreign Host (guard)": (
        putevents([ENTRY]).replace(b"host: 127.0.0.1", b"host: evil.example"),
        403,
    ),
    "cloudevents binary": (
        request("POST", "/v1/buses/orders/cloudevents", b'{"a": 1}', CE_HEADERS),
        202,
    ),
    "cloudevents binary, a query string": (
        request("POST", "/v1/buses/orders/cloudevents?source=form", b'{"a": 1}', CE_HEADERS),
        202,
    ),
    "cloudevents binary, over the event limit (handler, body already buffered)": (
        # within the guard's 1 MiB body bound, over the 256 KiB event limit
        request(
            "POST",
            "/v1/buses/orders/cloudevents",
            orjson.dumps({"pad": "x" * 300_000}),
            CE_HEADERS,
        ),
        413,
    ),
    "cloudevents binary, no specversion": (
        request(
            "POST",
            "/v1/buses/orders/cloudevents",
            b'{"a": 1}',
            {k: v for k, v in CE_HEADERS.items() if k != "ce-specversion"},
        ),
        400,
    ),
    "cloudevents structured": (
        request(
            "POST",
            "/v1/buses/orders/cloudevents",
            orjson.dumps({"specversion": "1.0", "id": "s-1", "source": "/a", "type": "t"}),
            {"content-type": "application/cloudevents+json"},
        ),
        202,
    ),
    "health (not a hot route)": (request("GET", "/healthz"), 200),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_same_answer_as_uvicorns_protocol(
    servers: dict[str, tuple[int, RecordingProducer]], answered_by_protocol: list[int], shape: str
) -> None:
    raw, expected = SHAPES[shape]
    answers = {name: exchange(port, raw)[0] for name, (port, _) in servers.items()}
    ours, theirs = answers["ours"], answers["uvicorn"]
    assert ours[0] == theirs[0] == expected, (ours, theirs)
    assert ours[2] == theirs[2]
    assert {k: v for k, v in ours[1].items() if k != "date"} == {
        k: v for k, v in theirs[1].items() if k != "date"
    }
    hot = raw.startswith(b"POST /v1/buses/")
    assert answered_by_protocol == ([expected] if hot else [])


def test_records_are_the_same_through_both_protocols(
    servers: dict[str, tuple[int, RecordingProducer]],
) -> None:
    for port, producer in servers.values():
        producer.records.clear()
        assert exchange(port, putevents([ENTRY, {**ENTRY, "EventId": "e-9"}]))[0][0] == 200
    # topic, key and value (the headers carry each server's own "now" as ce_time)
    ours, theirs = (
        [record[:3] for record in servers[name][1].records] for name in ("ours", "uvicorn")
    )
    assert ours == theirs
    assert len(servers["ours"][1].records) == 2


def test_keep_alive_and_pipelining_answer_in_order(
    servers: dict[str, tuple[int, RecordingProducer]], answered_by_protocol: list[int]
) -> None:
    port = servers["ours"][0]
    raw = (
        putevents([ENTRY])
        + request("GET", "/healthz")
        + putevents([ENTRY], bus="nope")
        + request("POST", "/v1/buses/orders/cloudevents", b'{"a": 1}', CE_HEADERS)
    )
    answers = exchange(port, raw, count=4)
    assert [a[0] for a in answers] == [200, 200, 404, 202]
    assert orjson.loads(answers[0][2])["Entries"] == [{"EventId": "e-1"}]
    assert orjson.loads(answers[3][2]) == {"id": "c-1"}
    assert all("connection" not in a[1] for a in answers)
    # the first is answered by the protocol; the rest queued behind answers in flight
    # may take uvicorn's path, but each got its own answer in order
    assert answered_by_protocol[:1] == [200]


def test_connection_close_and_http_1_0_close_after_the_answer(
    servers: dict[str, tuple[int, RecordingProducer]], answered_by_protocol: list[int]
) -> None:
    port = servers["ours"][0]
    body = orjson.dumps({"Entries": [ENTRY]})
    for raw in (
        request(
            "POST",
            "/v1/buses/orders/events",
            body,
            {"content-type": "application/json", "connection": "close"},
        ),
        request(
            "POST", "/v1/buses/orders/events", body, {"content-type": "application/json"}, "1.0"
        ),
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(raw)
            buffer = bytearray()
            status, headers, _ = read_response(sock, buffer)
            assert status == 200 and headers["connection"] == "close"
            assert sock.recv(100) == b""  # the server closed the connection
    assert answered_by_protocol == [200, 200]


def test_a_chunked_body_takes_uvicorns_path_with_the_same_answer(
    servers: dict[str, tuple[int, RecordingProducer]], answered_by_protocol: list[int]
) -> None:
    body = orjson.dumps({"Entries": [ENTRY]})
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    raw = request(
        "POST",
        "/v1/buses/orders/events",
        chunked,
        {"content-type": "application/json", "transfer-encoding": "chunked"},
    )
    status, _, answer = exchange(servers["ours"][0], raw)[0]
    assert status == 200 and orjson.loads(answer)["Entries"] == [{"EventId": "e-1"}]
    assert answered_by_protocol == []


def test_a_client_leaving_mid_body_does_not_disturb_the_server(
    servers: dict[str, tuple[int, RecordingProducer]],
) -> None:
    port = servers["ours"][0]
    raw = putevents([ENTRY])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw[: len(raw) - 5])  # the body's last bytes never come
    assert exchange(port, raw)[0][0] == 200


def test_keep_alive_closes_an_idle_connection_after_the_timeout_counted_from_the_last_answer() -> (
    None
):
    """uvicorn's rule (``timeout_keep_alive``, here 0.6 s), kept with one re-arming timer."""
    timeout = 0.6
    with serve(GatewayProtocol, timeout_keep_alive=timeout) as (port, _):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            buffer = bytearray()
            started = time.monotonic()
            # busy for three timeouts: each request comes within the timeout of the last
            while True:
                sock.sendall(putevents([ENTRY]))
                assert read_response(sock, buffer)[0] == 200
                last_answer = time.monotonic()
                if last_answer - started > 3 * timeout:
                    break
                time.sleep(timeout / 3)
            assert sock.recv(100) == b""  # idle now: the server closes the connection
            idle = time.monotonic() - last_answer
        assert timeout * 0.8 < idle < timeout * 3, idle
