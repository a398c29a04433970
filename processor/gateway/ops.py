"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from processor.gateway.context import GatewayContext, get_context
from processor.gateway.metrics import CONTENT_TYPE_LATEST

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process serves requests")
async def healthz() -> dict[str, str]:
    """Always ``ok`` while the event loop runs."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: Kafka reachable and configuration loaded")
async def readyz(context: GatewayContext = Depends(get_context)) -> JSONResponse:
    """200 when events can be accepted, else 503 with the reason."""
    ready, reason = await asyncio.to_thread(context.ready)
    body = {"status": "ready" if ready else "not-ready", "reason": reason}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(context: GatewayContext = Depends(get_context)) -> Response:
    """The Prometheus text exposition."""
    return Response(context.metrics.render(), media_type=CONTENT_TYPE_LATEST)
