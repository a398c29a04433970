"""The hot path (processor/gateway/fastpath.py) answers exactly as the full middleware stack.

Each request goes once through ``GatewayApp``'s hot path and once through the FastAPI stack
(``hot_path`` switched off on a second app), with a producer that acknowledges at once:
same status, same body (event ids aside), same records, same latency label.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from processor.gateway.app import create_app
from processor.settings import Settings
from tests.support.producers import RecordingProducer

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"  # W3C example
ENTRY = {"Source": "acme", "DetailType": "Order", "Detail": '{"n": 1}', "EventId": "e-1"}
CE = {"ce-specversion": "1.0", "ce-id": "c-1", "ce-source": "/acme", "ce-type": "t"}


async def both(
    path: str, body: bytes, headers: dict[str, str]
) -> list[tuple[httpx.Response, RecordingProducer, Any]]:
    """The response, records and app of the hot path, then of the full stack."""
    out = []
    for hot in (True, False):
        producer = RecordingProducer()
        app = create_app(Settings(), known_buses=["orders"], producer=producer)
        if not hot:
            app.hot_path = None
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as http:
            response = await http.post(path, content=body, headers=headers)
        out.append((response, producer, app))
    return out


def latency_labels(app: Any) -> set[tuple[str, str]]:
    samples = app.state.kbridge.metrics.latency.collect()[0].samples
    return {(s.labels["endpoint"], s.labels["status"]) for s in samples if "endpoint" in s.labels}


JSON = {"content-type": "application/json"}
CASES = [
    ("/v1/buses/orders/events", orjson.dumps({"Entries": [ENTRY, ENTRY]}), JSON),
    (
        "/v1/buses/orders/events",
        orjson.dumps({"Entries": [ENTRY]}),
        {**JSON, "traceparent": TRACEPARENT},
    ),
    ("/v1/buses/orders/events", orjson.dumps({"Entries": [{**ENTRY, "Detail": "[1]"}]}), JSON),
    ("/v1/buses/orders/events", b"{not json", JSON),
    ("/v1/buses/orders/events", orjson.dumps({"Entries": []}), JSON),
    ("/v1/buses/nope/events", orjson.dumps({"Entries": [ENTRY]}), JSON),
    ("/v1/buses/orders/events", orjson.dumps({"Entries": [ENTRY]}), {"content-type": "text/plain"}),
    ("/v1/buses/orders/events", orjson.dumps({"Entries": [ENTRY]}), {**JSON, "host": "evil.test"}),
    (
        "/v1/buses/orders/events",
        orjson.dumps({"Entries": [ENTRY]}),
        {**JSON, "origin": "https://evil.test"},
    ),
    ("/v1/buses/orders/cloudevents", b'{"a": 1}', {**JSON, **CE}),
    ("/v1/buses/orders/cloudevents", b"plain text", {"content-type": "text/plain", **CE}),
    ("/v1/buses/orders/cloudevents", b'{"a": 1}', {**JSON, **CE, "ce-id": ""}),
    ("/v1/buses/orders/cloudevents", b'{"a": 1', {**JSON, **CE}),
    (
        "/v1/buses/orders/cloudevents",
        orjson.dumps({"specversion": "1.0", "id": "s", "source": "/a", "type": "t", "data": 1}),
        {"content-type": "application/cloudevents+json"},
    ),
    ("/v1/buses/orders/cloudevents", b"x" * 300_000, {**JSON, **CE}),  # over 256 KiB
]


@pytest.mark.parametrize(("path", "body", "headers"), CASES)
async def test_hot_path_answers_as_the_full_stack(
    path: str, body: bytes, headers: dict[str, str]
) -> None:
    (hot, hot_producer, hot_app), (full, full_producer, full_app) = await both(path, body, headers)
    assert hot.status_code == full.status_code, (hot.text, full.text)
    assert hot.headers.get("content-type") == full.headers.get("content-type")
    assert hot.headers.get("retry-after") == full.headers.get("retry-after")
    assert hot.json() == full.json()  # ids are the client's own (EventId, ce-id)

    def stable(records: list[Any]) -> list[Any]:  # ce_time is the gateway's clock
        return [
            (t, k, v, {n: h for n, h in hs.items() if n != "ce_time"}) for t, k, v, hs in records
        ]

    assert stable(hot_producer.records) == stable(full_producer.records)
    assert latency_labels(hot_app) == latency_labels(full_app)
    assert latency_labels(hot_app)  # the request was timed


async def test_the_hot_path_serves_the_ingest_routes() -> None:
    """The comparison above is not vacuous: the hot path did answer, the stack did not."""
    (hot, _, hot_app), (full, _, full_app) = await both(*CASES[0])
    assert hot.status_code == full.status_code == 200
    assert hot_app.hot_path is not None and full_app.hot_path is None
    assert hot_app.middleware_stack is None  # FastAPI never built its stack for the request
    assert full_app.middleware_stack is not None


async def test_an_unexpected_error_is_a_logged_json_500(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in a handler never escapes as a traceback to the client nor kills the worker."""
    from processor.gateway import putevents

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(putevents, "put_entries", broken)
    app = create_app(Settings(), known_buses=["orders"], producer=RecordingProducer())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as http:
        response = await http.post("/v1/buses/orders/events", content=CASES[0][1], headers=JSON)
        after = await http.post(
            "/v1/buses/orders/cloudevents", content=b'{"a": 1}', headers={**JSON, **CE}
        )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal-error"
    assert "a bug" not in response.text
    assert "a bug" in caplog.text  # the operator sees it
    assert ("/v1/buses/{bus}/events", "500") in latency_labels(app)
    assert after.status_code == 202  # the app keeps serving
