"""What every gateway route needs, built once per app by ``create_app``.

Routes reach it through :func:`get_context`; tests build it with fakes-free real parts
(a real producer against the test broker, a static bus catalog) through ``create_app``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import Request

from processor.config import Bus, KbridgeConfig
from processor.gateway.auth import ADMIN, KeyRing, allows, presented_key, put_scope
from processor.gateway.errors import ApiError, unknown_bus
from processor.gateway.metrics import GatewayMetrics
from processor.gateway.publisher import Publisher
from processor.settings import GatewaySettings


class HasHeaders(Protocol):
    """A request as authorization reads it (Starlette's, or an ingest route's)."""

    @property
    def headers(self) -> Mapping[str, str]: ...


class BusCatalog(Protocol):
    """Which buses exist right now."""

    def exists(self, bus: str) -> bool: ...

    def max_event_bytes(self, bus: str) -> int | None: ...

    def loaded(self) -> bool: ...


@dataclass(frozen=True)
class StaticBuses:
    """A fixed set of buses (tests, or a gateway run without the rules topic)."""

    names: frozenset[str]

    @classmethod
    def of(cls, names: Iterable[str]) -> StaticBuses:
        """A catalog of exactly ``names``."""
        return cls(frozenset(names))

    def exists(self, bus: str) -> bool:
        """Whether ``bus`` is one of the names."""
        return bus in self.names

    def max_event_bytes(self, bus: str) -> int | None:
        """No per-bus limit: the gateway setting applies."""
        return None

    def loaded(self) -> bool:
        """A fixed list is always complete."""
        return True


@dataclass(frozen=True)
class ConfigBuses:
    """Buses declared in the live configuration (the config store's snapshot)."""

    snapshot: Callable[[], KbridgeConfig]
    caught_up: Callable[[], bool] = lambda: True
    _index: list[Any] = field(default_factory=lambda: [None, {}], compare=False, repr=False)
    """``[config, {name: bus}]``: the buses of the last snapshot by name. Asked twice per
    ingest request; ``KbridgeConfig.bus`` scans the list, this is one dict lookup."""

    def _bus(self, name: str) -> Bus | None:
        config = self.snapshot()
        index = self._index
        if index[0] is not config:  # a new snapshot (the store swaps the whole object)
            index[1] = {bus.name: bus for bus in config.buses}
            index[0] = config
        found: Bus | None = index[1].get(name)
        return found

    def exists(self, bus: str) -> bool:
        """Whether the live configuration declares ``bus``."""
        return self._bus(bus) is not None

    def max_event_bytes(self, bus: str) -> int | None:
        """The bus's own ``max_event_bytes`` from kbridge.yaml."""
        declared = self._bus(bus)
        return None if declared is None else declared.max_event_bytes

    def loaded(self) -> bool:
        """Whether the store has replayed the whole config topic yet."""
        return self.caught_up()


@dataclass
class GatewayContext:
    """Settings, the publisher, the bus catalog, keys and metrics of one gateway app."""

    settings: GatewaySettings
    publisher: Publisher
    buses: BusCatalog
    keys: KeyRing
    metrics: GatewayMetrics
    ready: Callable[[], tuple[bool, str]]
    config: Any = None
    """The management back end (:class:`processor.gateway.management.ConfigBackend`)."""
    extras: dict[str, Any] = field(default_factory=dict)

    def event_limit(self, bus: str) -> int:
        """The per-event size limit of ``bus`` (its config, else the gateway setting)."""
        limit = self.buses.max_event_bytes(bus)
        return self.settings.max_event_bytes if limit is None else limit

    def require_bus(self, bus: str) -> None:
        """404 unless ``bus`` is declared (503 while the configuration is still loading)."""
        if not self.buses.exists(bus):
            if not self.buses.loaded():
                raise ApiError(
                    503,
                    "not-ready",
                    "the configuration is still loading; retry shortly",
                    headers={"Retry-After": "1"},
                )
            raise unknown_bus(bus)

    def authorize(self, request: HasHeaders, scope: str) -> None:
        """401/403 unless the request's API key grants ``scope`` (when auth is enabled)."""
        if not self.settings.auth_enabled:
            return
        presented = presented_key(request.headers)
        if presented is None:
            raise ApiError(
                401,
                "unauthorized",
                "an API key is required: send 'Authorization: Bearer <key>' or 'X-Api-Key'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key = self.keys.authenticate(presented)
        if key is None:
            raise ApiError(401, "unauthorized", "the API key is not valid")
        if not key.allows(scope):
            raise ApiError(403, "forbidden", f"API key {key.name!r} lacks scope {scope!r}")

    def authorize_put(self, request: HasHeaders, bus: str) -> None:
        """Authorization to send events to ``bus``."""
        self.authorize(request, put_scope(bus))

    def authorize_admin(self, request: HasHeaders) -> None:
        """Authorization for the management API."""
        self.authorize(request, ADMIN)

    @staticmethod
    def scopes_allow(scopes: Iterable[str], scope: str) -> bool:
        """Scope check for credentials other than API keys (SigV4 access keys)."""
        return allows(scopes, scope)


def get_context(request: Request) -> GatewayContext:
    """FastAPI dependency: the app's context."""
    context: GatewayContext = request.app.state.kbridge
    return context
