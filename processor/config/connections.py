"""Connections: reusable credentials that webhook targets refer to by name."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from processor.config._base import ConfigModel, Description, Name, Secret


class ConnectionBase(ConfigModel):
    """Fields every connection kind has."""

    name: Name
    kind: str
    description: Description = ""


class BasicConnection(ConnectionBase):
    """HTTP basic authentication."""

    kind: Literal["basic"] = "basic"
    username: str
    password: Secret


class ApiKeyConnection(ConnectionBase):
    """A static API key sent in a header (``header: value``)."""

    kind: Literal["api_key"] = "api_key"
    header: Annotated[str, Field(min_length=1)] = "Authorization"
    value: Secret


class OAuthClientCredentialsConnection(ConnectionBase):
    """OAuth 2.0 client credentials: the sink fetches and refreshes a bearer token."""

    kind: Literal["oauth_client_credentials"] = "oauth_client_credentials"
    token_url: str
    client_id: str
    client_secret: Secret
    scope: str | None = None
    allow_private_network: bool = False


Connection = Annotated[
    BasicConnection | ApiKeyConnection | OAuthClientCredentialsConnection,
    Field(discriminator="kind"),
]
"""Any connection kind, chosen by its ``kind`` field."""
