"""The web console under ``/console`` (issue 18 item 4), served by the gateway.

Static HTML/CSS/JS committed as package data (no build step) plus a few JSON endpoints
under ``/v1/console/`` that the page needs and the management API does not offer to
read-scoped keys: the configuration (secrets masked), the rule sandbox (the router's own
core through :mod:`processor.authoring.route`), a live tail of a bus as server-sent events,
trace lookup and dead letters with redrive. The page itself holds no data; every endpoint
applies the management API's key check (:mod:`processor.console.access`).

``mount(app)`` is the gateway's one hook (``processor/gateway/app.py``).
"""

from __future__ import annotations

from fastapi import FastAPI


def mount(app: FastAPI) -> None:
    """Serve the console page and its endpoints on ``app``."""
    from processor.console import api, deadletters, page, tail

    app.include_router(page.router)
    app.include_router(api.router)
    app.include_router(tail.router)
    app.include_router(deadletters.router)


__all__ = ["mount"]
