"""Keys, stable ids and backpressure answers of the gateway, against real Kafka endpoints.

* PutEvents keys spread one busy Source over the bus's partitions (issue 21 item 4), a
  ``PartitionKey`` entry field chooses the key, ``EventId`` and ``Idempotency-Key`` keep ids
  stable across retries (item 8) — read back from the real broker;
* with a broker address nobody answers on (the producer can never be acknowledged), a
  request is answered after the ack timeout with the distinct ``OutcomeUnknown`` code,
  then every entry point answers at once with 503 and ``Retry-After`` (REST PutEvents,
  CloudEvents HTTP, a SaaS webhook, and ``ThrottlingException`` on the AWS JSON 1.1
  endpoint).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from gateway_harness import ReadBack, serve

from processor.config.sources import TokenSource
from processor.gateway.app import create_app
from processor.kafka.admin import TopicSpec, delete_topics, ensure_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.topics import bus_topic
from processor.settings import GatewaySettings, Settings

pytestmark = pytest.mark.kafka

JSON = {"content-type": "application/json"}
TOKEN = "tok-0123456789abcdef"


def entry(n: int, **extra: str) -> dict[str, str]:
    return {"Source": "acme.busy", "DetailType": "Tick", "Detail": f'{{"n": {n}}}', **extra}


@pytest.fixture
def gateway_url(gateway_settings: Settings, gateway_bus: str) -> Iterator[str]:
    with serve(create_app(gateway_settings, known_buses=[gateway_bus])) as url:
        yield url


def test_one_source_spreads_over_partitions_and_partition_key_is_kept(
    gateway_url: str, gateway_bus: str, read_back: ReadBack
) -> None:
    url = f"{gateway_url}/v1/buses/{gateway_bus}/events"
    spread = [entry(n) for n in range(10)] * 3
    keyed = [entry(100 + n, PartitionKey="order-42") for n in range(5)]
    ids = []
    for start in range(0, len(spread), 10):
        response = httpx.post(url, json={"Entries": spread[start : start + 10]})
        ids += [e["EventId"] for e in response.json()["Entries"]]
    response = httpx.post(url, json={"Entries": keyed})
    keyed_ids = [e["EventId"] for e in response.json()["Entries"]]
    records = read_back(bus_topic(gateway_bus), len(spread) + len(keyed))
    by_id = {dict(r.headers())["ce_id"].decode(): r for r in records}
    # No PartitionKey: keyed by event id, so one Source lands on every partition (3 here).
    assert {by_id[i].key() for i in ids} == {i.encode() for i in ids}
    assert {by_id[i].partition() for i in ids} == {0, 1, 2}
    # PartitionKey: the Kafka key and the CloudEvents partitionkey attribute, one partition
    # (per-key order kept).
    assert {by_id[i].key() for i in keyed_ids} == {b"order-42"}
    assert len({by_id[i].partition() for i in keyed_ids}) == 1
    assert all(dict(by_id[i].headers())["ce_partitionkey"] == b"order-42" for i in keyed_ids)
    offsets = [by_id[i].offset() for i in keyed_ids]
    assert offsets == sorted(offsets)


def test_client_ids_are_stable_across_retries(
    gateway_url: str, gateway_bus: str, read_back: ReadBack
) -> None:
    url = f"{gateway_url}/v1/buses/{gateway_bus}/events"
    own = httpx.post(url, json={"Entries": [entry(1, EventId="client-id-1")]}).json()
    assert own["Entries"] == [{"EventId": "client-id-1"}]
    body = {"Entries": [entry(2), entry(3)]}
    first = httpx.post(url, json=body, headers={"Idempotency-Key": "batch-7"}).json()
    retry = httpx.post(url, json=body, headers={"Idempotency-Key": "batch-7"}).json()
    other = httpx.post(url, json=body, headers={"Idempotency-Key": "batch-8"}).json()
    assert first == retry  # same key, same positions: same ids (receivers deduplicate)
    assert {e["EventId"] for e in first["Entries"]}.isdisjoint(
        e["EventId"] for e in other["Entries"]
    )
    bad = httpx.post(url, json={"Entries": [entry(4, EventId="")]}).json()
    assert bad["Entries"][0]["ErrorCode"] == "InvalidArgument"
    assert "EventId" in bad["Entries"][0]["ErrorMessage"]
    records = read_back(bus_topic(gateway_bus), 1 + 2 + 2 + 2)
    ids = [dict(r.headers())["ce_id"].decode() for r in records]
    assert ids.count("client-id-1") == 1
    assert ids.count(first["Entries"][0]["EventId"]) == 2  # written twice, one id


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port  # closed on return: connections are refused


def test_unreachable_kafka_outcome_unknown_then_fast_503s_everywhere() -> None:
    settings = Settings(
        kafka=KafkaClientConfig(bootstrap_servers=f"127.0.0.1:{_dead_port()}"),
        gateway=GatewaySettings(ack_timeout=0.5),
    )
    hook = TokenSource(name="survey", bus="orders", platform="questionnaire", token=TOKEN)
    app = create_app(settings, known_buses=["orders"], resolve_source={"survey": hook}.get)
    with serve(app) as url:
        started = time.monotonic()
        first = httpx.post(f"{url}/v1/buses/orders/events", json={"Entries": [entry(1)]})
        waited = time.monotonic() - started
        assert first.status_code == 200
        result = first.json()
        assert result["FailedEntryCount"] == 1
        assert result["Entries"][0]["ErrorCode"] == "OutcomeUnknown"
        assert 0.4 < waited < 3

        started = time.monotonic()
        shed = httpx.post(f"{url}/v1/buses/orders/events", json={"Entries": [entry(2)]})
        assert time.monotonic() - started < 0.5
        assert shed.status_code == 503
        assert shed.json()["error"]["code"] == "kafka-unavailable"
        assert shed.headers["retry-after"] == "1"

        cloud = httpx.post(
            f"{url}/v1/buses/orders/cloudevents",
            content=b'{"n": 1}',
            headers={
                **JSON,
                "ce-specversion": "1.0",
                "ce-id": "c1",
                "ce-source": "s",
                "ce-type": "t",
            },
        )
        assert cloud.status_code == 503
        assert "retry-after" in cloud.headers

        aws = httpx.post(
            url,
            content=orjson.dumps({"Entries": [{**entry(3), "EventBusName": "orders"}]}),
            headers={
                "x-amz-target": "AWSEvents.PutEvents",
                "content-type": "application/x-amz-json-1.1",
            },
        )
        assert aws.status_code == 503
        assert aws.json()["__type"] == "ThrottlingException"
        assert "retry-after" in aws.headers

        webhook = httpx.post(
            f"{url}/v1/webhooks/survey/{TOKEN}",
            content=orjson.dumps({"id": "a1", "action": "answer.create", "payload": {}}),
            headers=JSON,
        )
        assert webhook.status_code == 503  # the platform retries later; nothing was written
        assert "retry-after" in webhook.headers

        metrics = httpx.get(f"{url}/metrics").text
        assert 'kbridge_gateway_requests_shed_total{reason="kafka-unavailable"} 4.0' in metrics


def test_aws_json_request_over_two_buses_refuses_only_what_was_not_written(
    gateway_settings: Settings, gateway_bus: str, read_back: ReadBack
) -> None:
    """Once one bus's entries are written, a budget refusal for the next bus is per entry
    (ThrottlingException), never a whole-request error the client would retry in full."""
    other = f"{gateway_bus}-b"
    small = {**entry(1), "EventBusName": gateway_bus}
    big = {**entry(2), "Detail": orjson.dumps({"pad": "x" * 6000}).decode(), "EventBusName": other}
    body = orjson.dumps({"Entries": [small, big]})
    # The request's own bytes plus the small record fit; plus the big record they do not.
    settings = Settings(
        kafka=gateway_settings.kafka, gateway=GatewaySettings(max_inflight_bytes=len(body) + 1000)
    )
    ensure_topics(gateway_settings.kafka, [TopicSpec(bus_topic(other), partitions=1)])
    try:
        with serve(create_app(settings, known_buses=[gateway_bus, other])) as url:
            response = httpx.post(
                url,
                content=body,
                headers={
                    "x-amz-target": "AWSEvents.PutEvents",
                    "content-type": "application/x-amz-json-1.1",
                },
            )
    finally:
        delete_topics(gateway_settings.kafka, [bus_topic(other)])
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["FailedEntryCount"] == 1
    assert "EventId" in result["Entries"][0]
    assert result["Entries"][1]["ErrorCode"] == "ThrottlingException"
    written = read_back(bus_topic(gateway_bus), 1)
    assert dict(written[0].headers())["ce_id"].decode() == result["Entries"][0]["EventId"]
