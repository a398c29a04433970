"""The console's endpoints and page without a browser: access by scope, masking, the
sandbox (the router's own core), the tail's filter, clear 4xx answers.

Kafka-backed parts (tail stream, dead letters, redrive, trace) run against the real broker
in tests/browser/test_console.py; here the live configuration is a parsed kbridge.yaml.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from processor.config import KbridgeConfig, parse_config
from processor.config.model import ConfigObject, ObjectKind
from processor.console.tail import matching_event, parse_filter
from processor.gateway import create_app
from processor.gateway.auth import ApiKey, KeyRing, hash_key
from processor.gateway.errors import ApiError
from processor.kafka import headers as h
from processor.settings import GatewaySettings, Settings

ADMIN, READ, SENDER = "admin-key-123", "read-key-456", "sender-key-789"

CONFIG = """
buses: [{name: shop}]
connections:
  - {name: hook-auth, kind: api_key, header: X-Token, value: very-secret-token}
targets:
  - {name: hook, kind: webhook, url: "https://hooks.example.com/in", connection: hook-auth}
rules:
  - name: orders
    bus: shop
    pattern: {source: [shop.orders], detail-type: [OrderPlaced]}
    targets:
      - target: hook
        transform:
          input_paths: {order: $.detail.order_id}
          input_template: '{"order": <order>}'
"""


class Gateway:
    """Blocking requests to the app through httpx's ASGITransport (no lifespan, no Kafka)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                return await http.request(method, path, **kwargs)

        return asyncio.run(send())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


class LiveConfig:
    """The management back end's read side over one parsed configuration."""

    def __init__(self, config: KbridgeConfig) -> None:
        self.config = config

    def snapshot(self) -> KbridgeConfig:
        return self.config

    def put(self, obj: ConfigObject) -> None:
        raise AssertionError("the console never writes configuration")

    def delete(self, kind: ObjectKind, name: str) -> None:
        raise AssertionError("the console never writes configuration")


@pytest.fixture(scope="module")
def client() -> Gateway:
    settings = Settings(gateway=GatewaySettings(auth_enabled=True, admin_api_key=ADMIN))
    keys = KeyRing(
        [
            ApiKey("viewer", hash_key(READ), frozenset({"read"})),
            ApiKey("sender", hash_key(SENDER), frozenset({"put:*"})),
        ]
    )
    backend = LiveConfig(parse_config(CONFIG, env={}))
    return Gateway(create_app(settings, config_backend=backend, keys=keys))


def get(client: Gateway, path: str, key: str | None) -> tuple[int, dict]:
    answer = client.get(path, headers={"X-Api-Key": key} if key else {})
    return answer.status_code, answer.json()


def test_the_page_is_served_with_a_strict_policy_and_holds_no_data(client: Gateway) -> None:
    page = client.get("/console")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "very-secret-token" not in page.text and "hook-auth" not in page.text
    for name in ("console.js", "console.css"):
        assert client.get(f"/console/static/{name}").status_code == 200
    missing = client.get("/console/static/..%2Fapi.py")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not-found"
    assert client.get("/console/").status_code == 308


def test_read_keys_read_admin_keys_also_redrive(client: Gateway) -> None:
    assert get(client, "/v1/console/whoami", READ) == (
        200,
        {"auth": True, "key": "viewer", "write": False},
    )
    assert get(client, "/v1/console/whoami", ADMIN)[1]["write"] is True
    status, body = get(client, "/v1/console/config", None)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = get(client, "/v1/console/config", SENDER)
    assert status == 403 and "read" in body["error"]["message"]
    refused = client.post(
        "/v1/console/deadletters/hook/redrive", headers={"X-Api-Key": READ}, json={}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    refused = client.post(
        "/v1/console/deadletters/hook/0/3/redrive", headers={"X-Api-Key": READ}, json={}
    )
    assert refused.status_code == 403


def test_configuration_is_shown_with_secrets_masked(client: Gateway) -> None:
    status, config = get(client, "/v1/console/config", READ)
    assert status == 200
    assert [b["name"] for b in config["buses"]] == ["shop"]
    (rule,) = config["rules"]
    assert rule["pattern"] == {"source": ["shop.orders"], "detail-type": ["OrderPlaced"]}
    assert rule["targets"][0]["transform"]["input_template"] == '{"order": <order>}'
    (connection,) = config["connections"]
    assert connection["value"] == "**********"  # as the management API's GET masks
    assert "very-secret-token" not in json.dumps(config)


def test_sandbox_routes_through_the_router_core(client: Gateway) -> None:
    # An AWS PutEvents entry: Detail is a JSON string, DetailType maps to detail-type
    # (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html)
    event = {
        "Source": "shop.orders",
        "DetailType": "OrderPlaced",
        "EventBusName": "shop",
        "Detail": json.dumps({"order_id": 7}),
    }
    answer = client.post("/v1/console/sandbox", headers={"X-Api-Key": READ}, json={"event": event})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["bus"] == "shop" and result["matched_rules"] == ["orders"]
    (target,) = result["targets"]
    # input_paths + input_template: <order> replaced by the value at $.detail.order_id
    # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html)
    assert target["target"] == "hook" and target["payload"] == {"order": 7}
    assert target["sent"]["headers"]["X-Token"] == "***"  # the connection's secret masked
    assert "very-secret-token" not in answer.text

    other = {**event, "DetailType": "OrderCancelled"}
    answer = client.post(
        "/v1/console/sandbox", headers={"X-Api-Key": READ}, json={"event": other, "bus": "shop"}
    )
    assert answer.json()["matched_rules"] == [] and answer.json()["targets"] == []


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"event": "{not json"}, "malformed-json", "not valid JSON"),
        ({"event": "[1]"}, "invalid-event", "JSON object"),
        ({"event": {"source": "x", "type": "t"}, "bus": "nope"}, "invalid-event", "nope"),
        ({"evnt": {}}, "invalid-request", "event"),
    ],
)
def test_sandbox_refuses_bad_input_clearly(
    client: Gateway, body: dict, code: str, words: str
) -> None:
    answer = client.post("/v1/console/sandbox", headers={"X-Api-Key": READ}, json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and words in error["message"]


def test_tail_refuses_an_unknown_bus_and_an_invalid_pattern(client: Gateway) -> None:
    status, body = get(client, "/v1/console/tail/nope", READ)
    assert status == 404 and "nope" in body["error"]["message"]
    status, body = get(client, '/v1/console/tail/shop?pattern={"source":"x"}', READ)
    assert status == 400 and body["error"]["code"] == "invalid-pattern"
    status, body = get(client, "/v1/console/tail/shop?seconds=0", READ)
    assert status == 400 and body["error"]["code"] == "invalid-seconds"


def test_dead_letters_of_an_unknown_target_are_404(client: Gateway) -> None:
    status, body = get(client, "/v1/console/deadletters/nope", READ)
    assert status == 404 and "nope" in body["error"]["message"]


def test_console_needs_the_live_configuration() -> None:
    app = create_app(Settings(), known_buses=["a"])
    status, body = get(Gateway(app), "/v1/console/config", None)
    assert status == 503 and body["error"]["code"] == "management-unavailable"


def test_tail_filter_matches_as_the_router_does() -> None:
    """A structured record; the filter sees the AWS view (detail-type, detail aliases)."""
    value = orjson.dumps(
        {
            "specversion": "1.0",
            "id": "e1",
            "source": "shop.orders",
            "type": "OrderPlaced",
            "data": {"total": 120},
        }
    )
    headers = [(h.CONTENT_TYPE, b"application/cloudevents+json")]
    by_alias = parse_filter(
        '{"detail-type": ["OrderPlaced"], "detail": {"total": [{"numeric": [">", 100]}]}}'
    )
    assert matching_event(value, headers, by_alias) == orjson.loads(value)
    assert matching_event(value, headers, parse_filter('{"source": ["other"]}')) is None
    assert matching_event(value, headers, parse_filter("  ")) == orjson.loads(value)
    # an undecodable record is shown to an unfiltered tail only, with the decoder's words
    shown = matching_event(b"\xff", headers, None)
    assert shown is not None and "undecodable" in shown
    assert matching_event(b"\xff", headers, by_alias) is None
    with pytest.raises(ApiError):
        parse_filter('{"source": "not-a-list"}')


def test_open_tails_are_bounded(client: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    from processor.console import tail

    monkeypatch.setitem(tail._open, "tails", tail.MAX_TAILS)
    answer = client.get("/v1/console/tail/shop", headers={"X-Api-Key": READ})
    assert answer.status_code == 429 and answer.headers["retry-after"] == "5"
    assert answer.json()["error"]["code"] == "too-many-tails"
