"""The console's read endpoints: configuration, rule sandbox, trace lookup, who am I.

Configuration objects are dumped like the management API's GET (pydantic's JSON mode, so
every ``SecretStr`` is ``**********`` and connection URLs keep their masking). The sandbox
routes a pasted event through :class:`processor.authoring.route.Router`, i.e. the router's
pure core (``RoutingTable`` + ``core.route``) and each sink's own rendering, so what the
page shows is what the router and sinks would do with the live configuration.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from processor.authoring.route import EventInputError, Router
from processor.config import KbridgeConfig
from processor.config.model import SECTIONS
from processor.console.access import authorize_read, who
from processor.errors import KbridgeError
from processor.gateway import tracing
from processor.gateway.body import parse_json
from processor.gateway.context import GatewayContext, get_context
from processor.gateway.errors import ApiError

logger = logging.getLogger(__name__)
router = APIRouter(tags=["console"])


def live_config(context: GatewayContext) -> KbridgeConfig:
    """The live configuration, or 503 when this gateway runs without the config store."""
    if context.config is None:
        raise ApiError(
            503,
            "management-unavailable",
            "the console needs the live configuration store (kbridge.rules)",
        )
    try:
        config: KbridgeConfig = context.config.snapshot()
    except KbridgeError as exc:
        raise ApiError(503, exc.code, exc.message) from None
    return config


class SandboxRequest(BaseModel):
    """An event to route offline against the live configuration."""

    event: dict[str, Any] | str = Field(
        description="A CloudEvent or an AWS event (JSON object or JSON text)."
    )
    bus: str | None = Field(
        default=None, description="The bus; else the event's EventBusName or the only bus."
    )


@router.get("/v1/console/whoami", summary="What the console may show this key")
async def whoami(request: Request, context: GatewayContext = Depends(get_context)) -> Any:
    """Whether auth is on, the key's name and whether it may redrive."""
    return who(context, request)


@router.get("/v1/console/config", summary="The live configuration (secrets masked)")
async def config_view(request: Request, context: GatewayContext = Depends(get_context)) -> Any:
    """Every section of the live configuration, as the management API's GET shows it."""
    authorize_read(context, request)
    config = live_config(context)
    return {
        section: [obj.model_dump(mode="json") for obj in config.section(kind)]
        for kind, section in SECTIONS.items()
    }


_routers: dict[int, tuple[KbridgeConfig, Router]] = {}


def _router_for(config: KbridgeConfig) -> Router:
    """One compiled :class:`Router` per configuration snapshot (snapshots are immutable)."""
    cached = _routers.get(id(config))
    if cached is not None and cached[0] is config:
        return cached[1]
    compiled = Router(config)
    _routers.clear()
    _routers[id(config)] = (config, compiled)
    return compiled


@router.post("/v1/console/sandbox", summary="Route one event offline (rule sandbox)")
async def sandbox(
    body: SandboxRequest, request: Request, context: GatewayContext = Depends(get_context)
) -> Any:
    """Matched rules and each target's transformed payload, as the router would produce."""
    authorize_read(context, request)
    event = body.event
    if isinstance(event, str):
        event = parse_json(event.encode("utf-8"))
    if not isinstance(event, dict):
        raise ApiError(400, "invalid-event", "the event must be a JSON object")
    config = live_config(context)
    try:
        result = await asyncio.to_thread(lambda: _router_for(config).route(event, bus=body.bus))
    except EventInputError as exc:
        raise ApiError(400, "invalid-event", str(exc)) from None
    except KbridgeError as exc:
        raise ApiError(400, exc.code, exc.message) from None
    return result.as_json()


@router.get("/v1/console/trace/{event_id}", summary="An event's trace (read scope)")
async def trace(
    event_id: str,
    request: Request,
    since: str = "24h",
    context: GatewayContext = Depends(get_context),
) -> dict[str, Any]:
    """``GET /v1/events/<id>/trace`` for read-scoped keys (docs/tracing.md)."""
    authorize_read(context, request)
    return await tracing.event_trace(request.app.state.kafka, event_id, since)
