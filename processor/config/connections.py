"""Connections: reusable credentials that webhook targets refer to by name."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from processor.config._base import ConfigModel, Description, Name, Secret


class ConnectionBase(ConfigModel):
    """Fields every connection kind has."""

    name: Name
    """Connection name, referred to by webhook targets' `connection`."""
    kind: str
    """Selects the connection kind."""
    description: Description = ""
    """Free text."""


class BasicConnection(ConnectionBase):
    """HTTP basic authentication."""

    kind: Literal["basic"] = "basic"
    """The connection kind: `basic`."""
    username: str
    """User name."""
    password: Secret
    """Password."""


class ApiKeyConnection(ConnectionBase):
    """A static API key sent in a header (``header: value``)."""

    kind: Literal["api_key"] = "api_key"
    """The connection kind: `api_key`."""
    header: Annotated[str, Field(min_length=1)] = "Authorization"
    """Header carrying the key."""
    value: Secret
    """The header's value."""


class OAuthClientCredentialsConnection(ConnectionBase):
    """OAuth 2.0 client credentials: the sink fetches and refreshes a bearer token."""

    kind: Literal["oauth_client_credentials"] = "oauth_client_credentials"
    """The connection kind: `oauth_client_credentials`."""
    token_url: str
    """Token endpoint."""
    client_id: str
    """OAuth client id."""
    client_secret: Secret
    """OAuth client secret."""
    scope: str | None = None
    """Requested scope."""
    allow_private_network: bool = False
    """Allow a loopback or private token endpoint."""


Connection = Annotated[
    BasicConnection | ApiKeyConnection | OAuthClientCredentialsConnection,
    Field(discriminator="kind"),
]
"""Any connection kind, chosen by its ``kind`` field."""
