"""HTTP errors of the gateway: every client mistake is a 4xx with a JSON body naming it.

Handlers raise :class:`ApiError`; :func:`install_error_handlers` renders it (and FastAPI's
own validation errors, and kbridge errors that escape a handler) as::

    {"error": {"code": "unknown-bus", "message": "bus 'x' is not declared ..."}}

so that a client never gets a 500 for its own mistake and an operator can grep ``code``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from processor.errors import FatalError, InvalidEventError, KbridgeError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the gateway refuses or cannot serve, with its HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.details = details or {}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of every gateway error."""
    return {"error": {"code": code, "message": message, **extra}}


def unknown_bus(bus: str) -> ApiError:
    """404 for a bus that is not declared in the live configuration."""
    return ApiError(404, "unknown-bus", f"bus {bus!r} is not declared in the configuration")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Render ApiError, validation errors and kbridge errors as JSON error bodies."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, **exc.details),
            status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            error_body("invalid-request", _validation_message(exc)), status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(KbridgeError)
    async def _kbridge_error(request: Request, exc: KbridgeError) -> JSONResponse:
        if isinstance(exc, InvalidEventError):
            return JSONResponse(error_body(exc.code, exc.message), status_code=400)
        if isinstance(exc, FatalError):
            return JSONResponse(error_body(exc.code, exc.message), status_code=400)
        logger.warning("transient failure serving %s", request.url.path, extra={"error": str(exc)})
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=503, headers={"Retry-After": "1"}
        )
