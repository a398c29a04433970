"""WebhookSink against httpx.MockTransport: per-item outcomes, auth, signature, OAuth refresh."""

from __future__ import annotations

import base64

import httpx
from pydantic import SecretStr

from processor.config.connections import (
    ApiKeyConnection,
    BasicConnection,
    OAuthClientCredentialsConnection,
)
from processor.errors import BackpressureError, FatalError, RetriableError
from processor.sinks.base import Delivery, SinkContext, build_sink
from processor.sinks.http import signing
from processor.sinks.webhook import WebhookSink


def _items(n: int) -> list[Delivery]:
    return [
        Delivery(
            value=b'{"n": %d}' % i,
            headers={
                "ce_id": f"id-{i}",
                "ce_source": "s",
                "ce_type": "t",
                "content-type": "application/json",
            },
            topic="kbridge.target.w",
            offset=i,
        )
        for i in range(n)
    ]


async def test_outcome_per_item_and_binary_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        n = int(request.headers["ce-id"].split("-")[1])
        return httpx.Response([200, 500, 429, 400][n % 4], headers={"Retry-After": "2"})

    sink = WebhookSink(
        "http://hook.test/in",
        transport=httpx.MockTransport(handler),
        allow_private_network=True,
        secret="k",
    )
    outcomes = await sink.deliver(_items(4))
    await sink.close()
    assert outcomes[0] is None
    assert isinstance(outcomes[1], RetriableError) and not isinstance(
        outcomes[1], BackpressureError
    )
    assert isinstance(outcomes[2], BackpressureError) and outcomes[2].retry_after == 2.0
    assert isinstance(outcomes[3], FatalError)
    request = seen[0]
    assert request.headers["X-Kbridge-Event-Id"] == request.headers["ce-id"]
    assert signing.verify("k", request.content, request.headers[signing.HEADER])


async def test_transport_errors_are_retriable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sink = WebhookSink(
        "http://hook.test/", transport=httpx.MockTransport(handler), allow_private_network=True
    )
    [error] = await sink.deliver(_items(1))
    await sink.close()
    assert isinstance(error, RetriableError) and error.code == "connection"


async def test_basic_and_api_key_connections() -> None:
    got: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        got.append(request)
        return httpx.Response(204)

    basic = BasicConnection(name="b", username="u", password=SecretStr("p"))
    key = ApiKeyConnection(name="k", header="X-Api-Key", value=SecretStr("abc"))
    for connection in (basic, key):
        sink = WebhookSink(
            "http://h.test/",
            connection=connection,
            transport=httpx.MockTransport(handler),
            allow_private_network=True,
        )
        assert await sink.deliver(_items(1)) == [None]
        await sink.close()
    assert got[0].headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert got[1].headers["X-Api-Key"] == "abc"


async def test_oauth_token_fetched_cached_and_refreshed_on_401() -> None:
    tokens = iter(["t1", "t2"])
    valid = {"current": ""}
    token_requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            token_requests.append(request)
            valid["current"] = next(tokens)
            return httpx.Response(200, json={"access_token": valid["current"], "expires_in": 3600})
        if request.headers.get("Authorization") != f"Bearer {valid['current']}":
            return httpx.Response(401)
        return httpx.Response(200)

    connection = OAuthClientCredentialsConnection(
        name="o",
        token_url="http://h.test/token",
        client_id="cid",
        client_secret=SecretStr("cs"),
        scope="events.write",
        allow_private_network=True,
    )
    sink = WebhookSink(
        "http://h.test/in",
        connection=connection,
        transport=httpx.MockTransport(handler),
        allow_private_network=True,
    )
    assert await sink.deliver(_items(3)) == [None, None, None]
    assert len(token_requests) == 1
    form = token_requests[0].content.decode()
    assert "grant_type=client_credentials" in form and "scope=events.write" in form
    valid["current"] = "revoked-by-server"  # server-side revocation: next call gets a 401
    assert await sink.deliver(_items(1)) == [None]
    assert len(token_requests) == 2
    await sink.close()


async def test_factory_resolves_connection_from_context() -> None:
    class Target:
        name = "w"
        url = "https://api.example.com/hook"
        connection = "ops"
        rate_limit = 5
        body = "structured"

    connection = ApiKeyConnection(name="ops", value=SecretStr("x"))
    import processor.sinks.webhook  # noqa: F401  (registers the kind)

    sink = build_sink("webhook", Target(), SinkContext(connections={"ops": connection}))
    assert isinstance(sink, WebhookSink)
    assert sink.connection is connection and sink.body == "structured"


async def test_rate_limit_method_and_static_headers() -> None:
    import time

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    sink = WebhookSink(
        "http://limited.test/put",
        method="put",
        headers={"X-Team": "ops"},
        body="raw",
        rate_limit=20.0,
        transport=httpx.MockTransport(handler),
        allow_private_network=True,
    )
    started = time.monotonic()
    assert await sink.deliver(_items(30)) == [None] * 30
    elapsed = time.monotonic() - started
    await sink.close()
    assert elapsed >= 0.45  # a burst of 20, then 10 more at 20/s
    assert {r.method for r in seen} == {"PUT"}
    assert seen[0].headers["X-Team"] == "ops" and "ce-id" not in seen[0].headers


async def test_concurrent_401s_refresh_the_token_once() -> None:
    """Servers that invalidate old tokens on issue must not see a refresh storm."""
    import asyncio

    state = {"token": "", "issued": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            state["issued"] += 1
            state["token"] = f"t{state['issued']}"
            return httpx.Response(200, json={"access_token": state["token"]})
        await asyncio.sleep(0.01)  # keep requests in flight together
        if request.headers.get("Authorization") != f"Bearer {state['token']}":
            return httpx.Response(401)
        return httpx.Response(200)

    connection = OAuthClientCredentialsConnection(
        name="o",
        token_url="http://h.test/token",
        client_id="c",
        client_secret=SecretStr("s"),
        allow_private_network=True,
    )
    sink = WebhookSink(
        "http://h.test/in",
        connection=connection,
        concurrency=8,
        transport=httpx.MockTransport(handler),
        allow_private_network=True,
    )
    assert await sink.deliver(_items(8)) == [None] * 8
    state["token"] = "revoked"
    assert await sink.deliver(_items(8)) == [None] * 8
    await sink.close()
    assert state["issued"] == 2
