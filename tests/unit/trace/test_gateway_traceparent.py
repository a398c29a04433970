"""A producer's W3C ``traceparent`` HTTP header reaches the events it sends (as the
CloudEvents distributed-tracing attribute, ``ce_traceparent`` on the Kafka record), unless
an event carries its own; invalid values are ignored.

References: https://www.w3.org/TR/trace-context/#traceparent-header (format) and
https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/extensions/distributed-tracing.md
"""

from __future__ import annotations

import httpx
import orjson

from processor.gateway.app import create_app
from processor.settings import Settings
from tests.support.producers import RecordingProducer

# W3C Trace Context's example values
PRODUCER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
OWN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def put(
    producer: RecordingProducer, path: str, body: bytes, **headers: str
) -> httpx.Response:
    app = create_app(Settings(), known_buses=["orders"], producer=producer)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as http:
        return await http.post(path, content=body, headers=headers)


ENTRY = {"Source": "acme", "DetailType": "Order", "Detail": "{}"}


async def test_putevents_events_get_the_requests_traceparent() -> None:
    producer = RecordingProducer()
    body = orjson.dumps({"Entries": [ENTRY, ENTRY]})
    response = await put(
        producer,
        "/v1/buses/orders/events",
        body,
        **{"content-type": "application/json", "traceparent": PRODUCER},
    )
    assert response.status_code == 200, response.text
    assert [h["ce_traceparent"] for h in producer.headers] == [PRODUCER.encode()] * 2


async def test_an_events_own_traceparent_wins_and_bad_values_are_ignored() -> None:
    producer = RecordingProducer()
    event = {"ce-id": "e1", "ce-source": "acme", "ce-type": "t", "ce-specversion": "1.0"}
    response = await put(
        producer,
        "/v1/buses/orders/cloudevents",
        b"{}",
        **event,
        **{"ce-traceparent": OWN, "traceparent": PRODUCER, "content-type": "application/json"},
    )
    assert response.status_code < 300, response.text
    assert producer.headers[0]["ce_traceparent"] == OWN.encode()

    producer = RecordingProducer()
    body = orjson.dumps({"Entries": [ENTRY]})
    await put(
        producer,
        "/v1/buses/orders/events",
        body,
        **{"content-type": "application/json", "traceparent": "not-a-traceparent"},
    )
    assert "ce_traceparent" not in producer.headers[0]
