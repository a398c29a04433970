"""API keys with scopes; only SHA-256 hashes of keys are kept in memory or in files.

Scopes: ``admin`` (management API), ``put:<bus>`` (send events to one bus), ``put:*`` (any
bus), ``*`` (everything). A client presents its key as ``Authorization: Bearer <key>`` or
``X-Api-Key: <key>``. AWS clients (boto3, the aws CLI) sign with SigV4 instead; their access
keys carry the same scopes (see :mod:`processor.gateway.sigv4`). Webhooks authenticate by
the platform's signature only and never reach this module.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from processor.errors import ConfigError

ADMIN = "admin"


def hash_key(key: str) -> str:
    """The stored form of an API key: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def put_scope(bus: str) -> str:
    """The scope that allows sending events to ``bus``."""
    return f"put:{bus}"


def allows(scopes: Iterable[str], scope: str) -> bool:
    """Whether ``scopes`` grant ``scope`` (``*`` and ``put:*`` are wildcards)."""
    granted = set(scopes)
    if "*" in granted or scope in granted:
        return True
    return scope.startswith("put:") and "put:*" in granted


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key: a name for logs, the key's SHA-256 hash, and its scopes."""

    name: str
    sha256: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """Whether this key may do what ``scope`` names."""
        return allows(self.scopes, scope)


@dataclass(frozen=True, slots=True)
class AccessKey:
    """A SigV4 access key (AWS clients): id, secret (needed to verify), scopes."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    scopes: frozenset[str] = frozenset({"put:*"})


class KeyRing:
    """Looks presented API keys up by hash (constant-time comparison of the hashes)."""

    def __init__(self, keys: Iterable[ApiKey] = (), access_keys: Iterable[AccessKey] = ()):
        self._keys = list(keys)
        self.access_keys: dict[str, AccessKey] = {k.access_key_id: k for k in access_keys}

    def __bool__(self) -> bool:
        return bool(self._keys or self.access_keys)

    def with_key(self, key: ApiKey) -> KeyRing:
        """A key ring holding this one's keys plus ``key``."""
        return KeyRing([*self._keys, key], self.access_keys.values())

    def authenticate(self, presented: str) -> ApiKey | None:
        """The key whose hash matches ``presented``, or ``None``."""
        digest = hash_key(presented)
        found = None
        for key in self._keys:  # compare with every key: timing does not reveal which one
            if hmac.compare_digest(key.sha256, digest):
                found = key
        return found


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The API key a request carries (``X-Api-Key`` or a Bearer token), if any."""
    key = headers.get("x-api-key")
    if key:
        return key
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def load_keys(path: Path) -> KeyRing:
    """Read API keys (hashes only) and SigV4 access keys from a YAML or JSON file::

    api_keys:
      - {name: ci, sha256: <hex>, scopes: ["put:orders"]}
    access_keys:
      - {access_key_id: AKID..., secret_access_key: "...", scopes: ["put:*"]}
    """
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read API keys: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with api_keys and access_keys")
    try:
        keys = [
            ApiKey(str(k["name"]), str(k["sha256"]).lower(), frozenset(k.get("scopes", ())))
            for k in raw.get("api_keys", [])
        ]
        access = [
            AccessKey(
                str(k["access_key_id"]),
                str(k["secret_access_key"]),
                frozenset(k.get("scopes", ("put:*",))),
            )
            for k in raw.get("access_keys", [])
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: invalid key entry: {exc!r}") from None
    for key in keys:
        if len(key.sha256) != 64:
            raise ConfigError(f"{path}: api key {key.name!r}: sha256 must be 64 hex digits")
    return KeyRing(keys, access)


def dump_key(name: str, key: str, scopes: Iterable[str]) -> bytes:
    """A key-file entry for ``key`` (what ``kbridge gateway hash-key`` prints)."""
    return orjson.dumps({"name": name, "sha256": hash_key(key), "scopes": sorted(scopes)})
