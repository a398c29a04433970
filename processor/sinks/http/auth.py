"""Authentication from a connection: basic, API-key header, OAuth 2 client credentials.

An :class:`Authenticator` adds headers to each request; after a 401 the sink calls
:meth:`Authenticator.invalidate` and retries once, which makes OAuth fetch a fresh token
(the old one may have been revoked before its ``expires_in``). Secrets stay in ``SecretStr``
until the moment a header is built, and are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from processor.errors import ConfigError, FatalError
from processor.sinks.http.ssrf import check_url
from processor.sinks.http.status import outcome, transport_error


def _secret(value: Any) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if getter else value)


class Authenticator(Protocol):
    """Adds credentials to a request."""

    async def headers(self) -> dict[str, str]:
        """Headers carrying the credentials."""
        ...

    def invalidate(self, used: Mapping[str, str]) -> None:
        """Forget cached credentials after a 401 for a request sent with ``used`` headers."""
        ...


class NoAuth:
    """No credentials."""

    async def headers(self) -> dict[str, str]:
        return {}

    def invalidate(self, used: Mapping[str, str]) -> None:
        return None


class BasicAuth:
    """HTTP basic authentication."""

    def __init__(self, username: str, password: Any) -> None:
        raw = f"{username}:{_secret(password)}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode("ascii")

    async def headers(self) -> dict[str, str]:
        return {"Authorization": self._header}

    def invalidate(self, used: Mapping[str, str]) -> None:
        return None


class ApiKeyAuth:
    """A static key in a header."""

    def __init__(self, header: str, value: Any) -> None:
        self._header = header
        self._value = value

    async def headers(self) -> dict[str, str]:
        return {self._header: _secret(self._value)}

    def invalidate(self, used: Mapping[str, str]) -> None:
        return None


class OAuthClientCredentials:
    """Bearer tokens from a token endpoint (RFC 6749 section 4.4), cached until expiry."""

    #: Refresh this many seconds before ``expires_in`` runs out.
    EARLY_REFRESH = 30.0

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        token_url: str,
        client_id: str,
        client_secret: Any,
        scope: str | None = None,
        allow_private_network: bool = False,
    ) -> None:
        self._client = client
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._allow_private = allow_private_network
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def headers(self) -> dict[str, str]:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                await self._fetch()
            assert self._token is not None
            return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self, used: Mapping[str, str]) -> None:
        # Only the token that failed is dropped: concurrent requests that failed with an
        # older token retry with the one a neighbour already fetched (no refresh storm).
        if self._token is not None and used.get("Authorization") == f"Bearer {self._token}":
            self._token = None

    async def _fetch(self) -> None:
        await check_url(self._token_url, allow_private_network=self._allow_private)
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        try:
            response = await self._client.post(
                self._token_url,
                data=form,
                auth=(self._client_id, _secret(self._client_secret)),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, "token endpoint") from exc
        error = outcome(response)
        if error is not None:
            error.message = f"token endpoint: {error.message}"
            raise error
        try:
            payload = response.json()
            token = str(payload["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise FatalError("token endpoint answered without access_token", code="auth") from exc
        expires_in = payload.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        self._token = token
        self._expires_at = time.monotonic() + max(0.0, lifetime - self.EARLY_REFRESH)
        self.fetches += 1


def private_token_hosts(connection: Any) -> tuple[str, ...]:
    """Hosts a connection allows to be private: its OAuth token endpoint, when the
    connection sets ``allow_private_network`` (the target's own flag covers the target)."""
    token_url = getattr(connection, "token_url", None)
    if token_url and getattr(connection, "allow_private_network", False):
        host = urlsplit(str(token_url)).hostname
        return (host,) if host else ()
    return ()


def authenticator(connection: Any, client: httpx.AsyncClient) -> Authenticator:
    """The authenticator for a config connection model (``None`` means no auth)."""
    if connection is None:
        return NoAuth()
    kind = getattr(connection, "kind", None)
    if kind == "basic":
        return BasicAuth(connection.username, connection.password)
    if kind == "api_key":
        return ApiKeyAuth(connection.header, connection.value)
    if kind == "oauth_client_credentials":
        return OAuthClientCredentials(
            client,
            token_url=connection.token_url,
            client_id=connection.client_id,
            client_secret=connection.client_secret,
            scope=connection.scope,
            allow_private_network=getattr(connection, "allow_private_network", False),
        )
    raise ConfigError(f"unsupported connection kind {kind!r}")
