"""Issue 22.1/22.2: the request guard against browsers (Host, Origin, Content-Type) and bodies.

Browser rules behind these tests: a cross-origin "simple request" may carry only
``text/plain``, ``application/x-www-form-urlencoded`` or ``multipart/form-data`` and no custom
headers (Fetch standard, CORS-safelisted request headers:
https://fetch.spec.whatwg.org/#cors-safelisted-request-header); browsers send ``Origin`` on
such requests (https://fetch.spec.whatwg.org/#origin-header) and the page's own host name as
``Host`` (DNS rebinding). These requests never reach Kafka: the app is not started.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from processor.config.sources import GithubSource
from processor.gateway.app import create_app
from processor.gateway.guard import GuardPolicy, exposure_warning, policy_for
from processor.settings import GatewaySettings, Settings

TARGET = {
    "name": "exfil",
    "kind": "webhook",
    "url": "http://127.0.0.1:9/x",
    "allow_private_network": True,
}
LIMIT = 1024 * 1024


def app_with(**gateway: Any) -> Any:
    source = GithubSource(name="gh", bus="orders", secret="s3cret")
    return create_app(
        Settings(gateway=GatewaySettings(**gateway)),
        known_buses=["orders"],
        resolve_source=lambda name: source if name == "gh" else None,
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_with(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as http:
        yield http


async def test_browser_cross_origin_text_plain_write_is_refused(
    client: httpx.AsyncClient,
) -> None:
    """The issue's request: a page on another site posts text/plain to create a target."""
    headers = {
        "Content-Type": "text/plain;charset=UTF-8",
        "Origin": "http://evil.example",
        "Host": "evil.example:8080",  # DNS rebinding: the page's name, resolved to 127.0.0.1
    }
    response = await client.post("/v1/targets", content=orjson.dumps(TARGET), headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "host-not-allowed"
    # the same request from a page whose name is not rebound: the Origin is foreign
    del headers["Host"]
    response = await client.post("/v1/targets", content=orjson.dumps(TARGET), headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin-not-allowed"
    # without Origin (e.g. a sandboxed form sends "null", others may omit it): text/plain
    for origin in ("null", None):
        extra = {"Origin": origin} if origin else {}
        response = await client.post(
            "/v1/targets",
            content=orjson.dumps(TARGET),
            headers={"Content-Type": "text/plain", **extra},
        )
        assert response.status_code == (403 if origin else 415)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/targets"),
        ("PUT", "/v1/rules/r1"),
        ("POST", "/v1/test-event-pattern"),
        ("POST", "/v1/buses/orders/events"),
    ],
)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
async def test_writes_need_json(
    client: httpx.AsyncClient, method: str, path: str, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.request(method, path, content=b"{}", headers=headers)
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported-media-type"
    assert "application/json" in error["message"]


async def test_json_writes_from_non_browser_clients_pass(client: httpx.AsyncClient) -> None:
    pattern = {"pattern": {"source": ["a"]}, "event": {"source": "a"}}
    response = await client.post("/v1/test-event-pattern", json=pattern)
    assert response.status_code == 200 and response.json() == {"result": True}
    same_origin = {"Origin": "http://127.0.0.1:8080"}  # the gateway's own /docs page
    response = await client.post("/v1/test-event-pattern", json=pattern, headers=same_origin)
    assert response.status_code == 200


async def test_dns_rebinding_cannot_read_answers(client: httpx.AsyncClient) -> None:
    for path in ("/v1/targets", "/v1/rules", "/openapi.json"):
        response = await client.get(path, headers={"Host": "attacker.example"})
        assert response.status_code == 403
    # probes and scrapers reach liveness, readiness and metrics under any name
    assert (await client.get("/healthz", headers={"Host": "kbridge-gateway.ns.svc"})).is_success


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8080", True),
        ("[::1]:8080", True),
        ("localhost:8080", True),
        ("app.localhost", True),  # RFC 6761: *.localhost is loopback
        ("10.1.2.3", True),  # an IP literal cannot be a rebound name
        ("events.example.com", True),  # configured
        ("Events.Example.COM.:443", True),
        ("evil.example", False),
        ("127.0.0.1.evil.example", False),
    ],
)
def test_host_policy(host: str, allowed: bool) -> None:
    policy = policy_for(GatewaySettings(allowed_hosts=("events.example.com",)), LIMIT)
    assert policy.host_allowed(host) is allowed


def test_host_check_with_auth_on_is_opt_in() -> None:
    """With API keys on, a rebinding page cannot authenticate; clusters use Service names."""
    assert policy_for(GatewaySettings(auth_enabled=True), LIMIT).host_allowed("svc.cluster")
    strict = policy_for(GatewaySettings(auth_enabled=True, allowed_hosts=("a.b",)), LIMIT)
    assert not strict.host_allowed("svc.cluster")
    assert policy_for(GatewaySettings(allowed_hosts=("*",)), LIMIT).host_allowed("any.name")


def test_allowed_origins() -> None:
    policy = policy_for(GatewaySettings(allowed_origins=("https://console.example/",)), LIMIT)
    assert policy.origin_allowed("https://console.example", "127.0.0.1:8080", "http")
    assert not policy.origin_allowed("https://console.example.evil", "127.0.0.1:8080", "http")
    assert not policy.origin_allowed("null", "127.0.0.1:8080", "http")
    assert policy.origin_allowed(None, "127.0.0.1:8080", "http")


# -- 22.2: one body bound for every endpoint ---------------------------------------------------

BODY_ENDPOINTS = [
    ("POST", "/v1/test-event-pattern", "application/json"),  # a pydantic body model
    ("POST", "/v1/buses", "application/json"),
    ("POST", "/v1/rules", "application/json"),
    ("POST", "/v1/targets", "application/json"),
    ("POST", "/v1/connections", "application/json"),
    ("POST", "/v1/sources", "application/json"),
    ("PUT", "/v1/targets/t1", "application/json"),
    ("POST", "/v1/buses/orders/events", "application/json"),
    ("POST", "/v1/buses/orders/cloudevents", "application/cloudevents+json"),
    ("POST", "/v1/buses/orders/cloudevents", "application/cloudevents-batch+json"),
    ("POST", "/", "application/x-amz-json-1.1"),
    ("POST", "/v1/webhooks/gh", "application/json"),
]


async def _drive(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Any:
    """Call the ASGI app with an endless streamed body; count what the app pulled."""
    chunk = b"x" * 65536
    pulled = {"bytes": 0}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        pulled["bytes"] += len(chunk)
        if pulled["bytes"] > 300 * 1024 * 1024:  # the 300 MB body
            return {"type": "http.request", "body": chunk, "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8080"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, pulled["bytes"]


@pytest.mark.parametrize(("method", "path", "content_type"), BODY_ENDPOINTS)
async def test_streamed_oversized_body_is_cut_off_on_every_endpoint(
    method: str, path: str, content_type: str
) -> None:
    app = app_with()
    headers = [(b"content-type", content_type.encode())]
    if path == "/":
        headers.append((b"x-amz-target", b"AWSEvents.PutEvents"))
    if path.startswith("/v1/webhooks/"):
        headers += [(b"x-github-event", b"push"), (b"x-github-delivery", b"d1")]
    status, body, pulled = await _drive(app, method, path, headers)
    assert status == 413, body
    document = orjson.loads(body)
    message = document["message"] if path == "/" else document["error"]["message"]
    assert "limit" in message
    # never read whole: at most the largest bound (PutEvents' 2 MiB + 64 KiB) and one chunk
    assert pulled <= 2 * LIMIT + 64 * 1024 + 2 * 65536


@pytest.mark.parametrize(("method", "path", "content_type"), BODY_ENDPOINTS)
async def test_declared_oversized_body_is_refused_before_reading(
    method: str, path: str, content_type: str
) -> None:
    app = app_with(max_body_bytes=4096, max_batch_bytes=4096)
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(100 * 1024 * 1024).encode()),
    ]
    status, body, pulled = await _drive(app, method, path, headers)
    assert status == 413, body
    assert pulled == 0


@pytest.mark.parametrize(("method", "path"), [("DELETE", "/v1/targets/t1"), ("GET", "/v1/rules")])
async def test_bodies_of_bodiless_endpoints_are_never_read(method: str, path: str) -> None:
    status, _, pulled = await _drive(app_with(), method, path, [])
    assert status == 503  # no management store in this app; the point is the body
    assert pulled == 0


def test_body_bound_is_configurable_and_putevents_has_room_for_escaping() -> None:
    policy = policy_for(GatewaySettings(max_body_bytes=10_000), 2 * LIMIT + 65536)
    assert isinstance(policy, GuardPolicy)
    assert policy.body_limit("/v1/test-event-pattern") == 10_000
    assert policy.body_limit("/v1/targets") == 10_000
    assert policy.body_limit("/v1/buses/orders/events") == 2 * LIMIT + 65536
    assert policy.body_limit("/") == 2 * LIMIT + 65536


@pytest.mark.parametrize(
    ("host", "auth", "warns"),
    [
        ("127.0.0.1", False, False),
        ("localhost", False, False),
        ("::1", False, False),
        ("0.0.0.0", False, True),
        ("192.0.2.10", False, True),
        ("0.0.0.0", True, False),
    ],
)
def test_exposed_bind_without_keys_warns(host: str, auth: bool, warns: bool) -> None:
    warning = exposure_warning(GatewaySettings(host=host, auth_enabled=auth))
    assert (warning is not None) is warns
    if warning:
        assert "KBRIDGE_GATEWAY__AUTH_ENABLED" in warning
