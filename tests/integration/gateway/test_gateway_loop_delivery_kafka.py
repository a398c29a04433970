"""``kbridge gateway --loop-delivery``: delivery reports served on the event loop
(processor/gateway/pump.py) instead of a callback thread, against the real broker.

Every event answered as accepted is on the ingress topic; answers come only after Kafka
acknowledged; an idle gateway keeps answering (the pump sleeps and wakes on new records).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest
from gateway_harness import ReadBack, serve

from processor.events import decode
from processor.gateway.app import create_app
from processor.kafka.topics import bus_topic
from processor.settings import Settings

pytestmark = pytest.mark.kafka


def test_loop_delivery_accepts_only_what_kafka_acknowledged(
    gateway_settings: Settings, gateway_bus: str, read_back: ReadBack
) -> None:
    app = create_app(gateway_settings, known_buses=[gateway_bus], loop_delivery=True)
    with serve(app) as url:
        entries = [
            {"Source": "acme", "DetailType": "t", "Detail": orjson.dumps({"n": i}).decode()}
            for i in range(10)
        ]

        async def load() -> list[str]:
            async with httpx.AsyncClient(base_url=url, timeout=20) as http:

                async def one(k: int) -> list[str]:
                    response = await http.post(
                        f"/v1/buses/{gateway_bus}/events", json={"Entries": entries}
                    )
                    assert response.status_code == 200, response.text
                    body = response.json()
                    assert body["FailedEntryCount"] == 0
                    return [e["EventId"] for e in body["Entries"]]

                batches = await asyncio.gather(*(one(k) for k in range(16)))
            return [event_id for batch in batches for event_id in batch]

        accepted = asyncio.run(load())
        time.sleep(1.5)  # idle: the pump waits for a kick, still polling once a second
        started = time.monotonic()
        late = httpx.post(
            f"{url}/v1/buses/{gateway_bus}/cloudevents",
            content=b'{"n": "late"}',
            headers={
                "content-type": "application/json",
                "ce-specversion": "1.0",
                "ce-id": "late-1",
                "ce-source": "/acme",
                "ce-type": "t",
            },
            timeout=20,
        )
        assert late.status_code == 202, late.text
        assert time.monotonic() - started < 5  # answered on its acknowledgement, not a timeout
    records = read_back(bus_topic(gateway_bus), len(accepted) + 1)
    ids = {decode(r.value(), r.headers()).id for r in records}
    assert ids == {*accepted, "late-1"}
    assert len(accepted) == 160
