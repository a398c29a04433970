"""GET /v1/events/<id>/trace refuses bad input with a clear 4xx JSON body (no broker needed:
these are answered before any lookup)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from processor.gateway.app import create_app
from processor.settings import GatewaySettings, Settings


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(), known_buses=["orders"])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as http:
        yield http


@pytest.mark.parametrize("since", ["abc", "0", "40d", "-5m"])
async def test_a_bad_since_is_400_naming_it(client: httpx.AsyncClient, since: str) -> None:
    response = await client.get(f"/v1/events/e-1/trace?since={since}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid-since"


async def test_an_overlong_event_id_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/events/{'x' * 1025}/trace")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid-event-id"


async def test_the_management_api_auth_applies() -> None:
    settings = Settings(
        gateway=GatewaySettings(auth_enabled=True, admin_api_key=SecretStr("k" * 32))
    )
    app = create_app(settings, known_buses=["orders"])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as http:
        response = await http.get("/v1/events/e-1/trace")
    assert response.status_code == 401
