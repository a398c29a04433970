"""Bad input over HTTP: every client mistake is a 4xx with a JSON body naming the problem.

These requests never reach Kafka (the app is not started, so it has no producer). Requests
go through httpx's ASGITransport (Starlette's httpx.AsyncClient warns about httpx on this stack).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from processor.gateway.app import create_app
from processor.gateway.auth import ApiKey, KeyRing, hash_key
from processor.settings import GatewaySettings, Settings

GOOD_ENTRY = {"Source": "acme.app", "DetailType": "t", "Detail": "{}"}


def asgi_client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(Settings(), known_buses=["orders"])) as http:
        yield http


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] and error["message"]
    return error


async def test_unknown_bus_is_404(client: httpx.AsyncClient) -> None:
    for path in ("/v1/buses/nope/events", "/v1/buses/nope/cloudevents"):
        response = await client.post(path, json={"Entries": [GOOD_ENTRY]})
        assert response.status_code == 404
        error = error_of(response)
        assert error["code"] == "unknown-bus"
        assert "'nope'" in error["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "request body is empty"),
        (b"{not json", "request body is not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b"{}", "'Entries' is required and must be a list"),
        (b'{"Entries": []}', "between 1 and 10 entries, got 0"),
        (orjson.dumps({"Entries": [GOOD_ENTRY] * 11}), "between 1 and 10 entries, got 11"),
    ],
)
async def test_putevents_request_errors(
    client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    response = await client.post(
        "/v1/buses/orders/events", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert message in error_of(response)["message"]


async def test_putevents_request_too_large(client: httpx.AsyncClient) -> None:
    body = b'{"Entries": [' + b" " * (3 * 1024 * 1024) + b"]}"
    json_type = {"content-type": "application/json"}
    response = await client.post("/v1/buses/orders/events", content=body, headers=json_type)
    assert response.status_code == 413
    assert "the limit is 2162688" in error_of(response)["message"]  # room for JSON escaping


async def test_putevents_entry_errors_are_per_entry(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/buses/orders/events",
        json={"Entries": [{"Source": "a", "DetailType": "t", "Detail": "nope"}, {"Source": "a"}]},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["FailedEntryCount"] == 2
    assert body["Entries"][0] == {
        "ErrorCode": "MalformedDetail",
        "ErrorMessage": "Detail is malformed.",
    }
    assert body["Entries"][1]["ErrorCode"] == "InvalidArgument"
    assert "DetailType is a required argument" in body["Entries"][1]["ErrorMessage"]


async def test_putevents_entry_for_another_bus(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/buses/orders/events", json={"Entries": [{**GOOD_ENTRY, "EventBusName": "billing"}]}
    )
    assert response.json()["Entries"][0]["ErrorCode"] == "InvalidArgument"
    assert "posted to bus 'orders'" in response.json()["Entries"][0]["ErrorMessage"]


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({"content-type": "application/json"}, b"{}", "no 'ce-specversion' header"),
        (
            {"ce-specversion": "1.0", "ce-id": "1", "ce-type": "t"},
            b"",
            "missing required attribute 'source'",
        ),
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-source": "s",
                "ce-type": "t",
                "ce-time": "noon",
            },
            b"",
            "attribute 'time' must be an RFC 3339 timestamp",
        ),
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-source": "s",
                "ce-type": "t",
                "content-type": "application/json",
            },
            b"{oops",
            "data is not valid JSON",
        ),
        ({"content-type": "application/cloudevents+json"}, b"[1]", "must be a JSON object"),
        ({"content-type": "application/cloudevents+json"}, b"{x", "is not valid JSON"),
        (
            {"content-type": "application/cloudevents-batch+json"},
            b'[{"specversion": "1.0", "id": "1", "source": "s", "type": "t"}, {"id": "2"}]',
            "event [1]: missing required attribute 'specversion'",
        ),
        ({"content-type": "application/cloudevents-batch+json"}, b"{}", "must be a JSON array"),
    ],
)
async def test_cloudevents_errors(
    client: httpx.AsyncClient, headers: dict[str, str], body: bytes, message: str
) -> None:
    response = await client.post("/v1/buses/orders/cloudevents", content=body, headers=headers)
    assert response.status_code == 400
    assert message in error_of(response)["message"]


async def test_cloudevent_over_the_event_limit_is_413(client: httpx.AsyncClient) -> None:
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "s", "ce-type": "t"}
    response = await client.post(
        "/v1/buses/orders/cloudevents", content=b"x" * (256 * 1024 + 1), headers=headers
    )
    assert response.status_code == 413
    assert "the limit is 262144" in error_of(response)["message"]


async def test_cloudevents_batch_limit(client: httpx.AsyncClient) -> None:
    event = {"specversion": "1.0", "id": "1", "source": "s", "type": "t"}
    response = await client.post(
        "/v1/buses/orders/cloudevents",
        content=orjson.dumps([event] * 11),
        headers={"content-type": "application/cloudevents-batch+json"},
    )
    assert response.status_code == 400
    assert "at most 10 events, got 11" in error_of(response)["message"]


async def test_without_kafka_valid_events_are_retriable_failures(client: httpx.AsyncClient) -> None:
    """An app that has not started has no producer: 503/InternalFailure, never a 500."""
    response = await client.post("/v1/buses/orders/events", json={"Entries": [GOOD_ENTRY]})
    assert response.status_code == 200
    assert response.json()["Entries"][0]["ErrorCode"] == "InternalFailure"
    response = await client.post(
        "/v1/buses/orders/cloudevents",
        content=b"{}",
        headers={"ce-specversion": "1.0", "ce-id": "1", "ce-source": "s", "ce-type": "t"},
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "not started" in error_of(response)["message"]


async def test_management_without_store_and_unknown_paths(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/rules")
    assert response.status_code == 503
    assert error_of(response)["code"] == "management-unavailable"
    assert (await client.get("/v1/widgets")).status_code == 400
    response = await client.get("/nothing/here")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not-found"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"pattern": {"source": ["a"]}, "event": {"source": "a"}}, 200, None),
        ({"pattern": '{"source": ["a"]}', "event": '{"source": "b"}'}, 200, None),
        ({"pattern": {"source": "a"}, "event": {}}, 400, "Event pattern is not valid. Reason:"),
        ({"pattern": {"source": ["a"]}, "event": "{x"}, 400, "event is not valid JSON"),
        ({"pattern": {"source": ["a"]}}, 400, "event: Field required"),
    ],
)
async def test_test_event_pattern(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, message: str | None
) -> None:
    response = await client.post("/v1/test-event-pattern", json=body)
    assert response.status_code == status
    if message is None:
        expected = body["event"] in ({"source": "a"},)
        assert response.json() == {"result": expected}
    else:
        assert message in error_of(response)["message"]


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reason"] == "Kafka producer not started"
    assert "kbridge_gateway_events_accepted" in (await client.get("/metrics")).text


@pytest.fixture
async def secured() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        gateway=GatewaySettings(auth_enabled=True, admin_api_key=SecretStr("admin-secret"))
    )
    keys = KeyRing([ApiKey("orders-writer", hash_key("writer-key"), frozenset({"put:orders"}))])
    app = create_app(settings, known_buses=["orders", "billing"], keys=keys)
    async with asgi_client(app) as http:
        yield http


async def test_api_keys_and_scopes(secured: httpx.AsyncClient) -> None:
    entries = {"Entries": [GOOD_ENTRY]}
    response = await secured.post("/v1/buses/orders/events", json=entries)
    assert response.status_code == 401
    assert "an API key is required" in error_of(response)["message"]
    response = await secured.post(
        "/v1/buses/orders/events", json=entries, headers={"x-api-key": "wrong"}
    )
    assert response.status_code == 401
    assert error_of(response)["message"] == "the API key is not valid"
    response = await secured.post(
        "/v1/buses/billing/events", json=entries, headers={"authorization": "Bearer writer-key"}
    )
    assert response.status_code == 403
    assert "lacks scope 'put:billing'" in error_of(response)["message"]
    response = await secured.post(
        "/v1/buses/orders/events", json=entries, headers={"authorization": "Bearer writer-key"}
    )
    assert response.status_code == 200  # authorized (the app is not started, so not produced)
    response = await secured.post(
        "/v1/test-event-pattern",
        json={"pattern": {"a": [1]}, "event": {"a": 1}},
        headers={"x-api-key": "writer-key"},
    )
    assert response.status_code == 403
    response = await secured.post(
        "/v1/test-event-pattern",
        json={"pattern": {"a": [1]}, "event": {"a": 1}},
        headers={"x-api-key": "admin-secret"},
    )
    assert response.json() == {"result": True}


async def test_aws_json_protocol_errors(client: httpx.AsyncClient) -> None:
    response = await client.post("/", content=b"{}")
    assert response.status_code == 400
    assert response.json()["__type"] == "UnknownOperationException"
    headers = {"x-amz-target": "AWSEvents.PutEvents", "content-type": "application/x-amz-json-1.1"}
    response = await client.post("/", content=b"{x", headers=headers)
    assert response.json()["__type"] == "SerializationException"
    response = await client.post("/", content=b'{"Entries": []}', headers=headers)
    assert response.json()["__type"] == "ValidationException"
    response = await client.post(
        "/",
        content=orjson.dumps({"Entries": [{**GOOD_ENTRY, "EventBusName": "x"}]}),
        headers=headers,
    )
    assert response.json()["Entries"][0] == {
        "ErrorCode": "ResourceNotFoundException",
        "ErrorMessage": "Event bus x does not exist.",
    }
    too_big = await client.post("/", content=b" " * (3 * 1024 * 1024), headers=headers)
    assert too_big.status_code == 413
    assert too_big.json()["__type"] == "ValidationException"
    headers["x-amz-target"] = "AWSEvents.DeleteRule"
    response = await client.post("/", content=b"{}", headers=headers)
    assert response.json()["__type"] == "UnknownOperationException"


async def test_buses_are_unavailable_not_unknown_while_the_configuration_loads() -> None:
    """A store that has not replayed kbridge.rules yet: 503 and Retry-After, never a 404."""
    from processor.config.store import ConfigStore

    settings = Settings()
    app = create_app(settings, config_store=ConfigStore(settings.kafka))  # not started
    async with asgi_client(app) as http:
        response = await http.post("/v1/buses/orders/events", json={"Entries": [GOOD_ENTRY]})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert error_of(response)["code"] == "not-ready"
        aws = await http.post(
            "/",
            content=orjson.dumps({"Entries": [GOOD_ENTRY]}),
            headers={"x-amz-target": "AWSEvents.PutEvents"},
        )
        assert aws.json()["Entries"][0] == {
            "ErrorCode": "InternalFailure",
            "ErrorMessage": "the configuration is still loading.",
        }
        assert (await http.get("/readyz")).status_code == 503


async def test_cloudevents_webhook_validation_handshake(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/v1/buses/orders/cloudevents",
        headers={"WebHook-Request-Origin": "eventemitter.example.com"},
    )
    assert response.status_code == 200
    assert response.headers["webhook-allowed-origin"] == "eventemitter.example.com"
    assert response.headers["allow"] == "POST"
    unknown = await client.options("/v1/buses/nope/cloudevents")
    assert unknown.status_code == 404
