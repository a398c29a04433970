"""The console's static files: ``/console`` (the page) and ``/console/static/<file>``.

The files hold no data and no secrets (every view fetches ``/v1/console/*`` with the API
key the user types in, kept in the tab's sessionStorage), so they are served without a key.
Only the committed files can be served: names are looked up in a fixed table, never joined
onto a path.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from processor.gateway.errors import ApiError

router = APIRouter(tags=["console"], include_in_schema=False)

_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'"
    ),
}


def read_static(name: str) -> bytes:
    """A committed console file (package data), or 404."""
    if name not in _TYPES:
        raise ApiError(404, "not-found", f"no console file {name!r}")
    return files("processor.console").joinpath("static", name).read_bytes()


@router.get("/console")
async def console_root() -> Response:
    """The page itself."""
    return Response(read_static("index.html"), media_type=_TYPES["index.html"], headers=_HEADERS)


@router.get("/console/")
async def console_slash() -> RedirectResponse:
    """``/console/`` and ``/console`` are the same page."""
    return RedirectResponse("/console", status_code=308)


@router.get("/console/static/{name}")
async def console_static(name: str) -> Response:
    """The page's CSS and JavaScript."""
    return Response(read_static(name), media_type=_TYPES[name], headers=_HEADERS)
