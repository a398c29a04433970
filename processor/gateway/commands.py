"""``kbridge gateway`` (serve the HTTP gateway) and ``kbridge gateway-key`` (mint an API key)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import typer

from processor.kafka.topics import RULES_TOPIC


def gateway(
    host: str | None = typer.Option(None, "--host", help="Bind address (default 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", help="Port (default 8080)."),
    api_keys: Path | None = typer.Option(
        None,
        "--api-keys",
        envvar="KBRIDGE_GATEWAY_API_KEYS",
        help="YAML/JSON file of hashed API keys and SigV4 access keys.",
    ),
    rules_topic: str = typer.Option(
        RULES_TOPIC, "--rules-topic", envvar="KBRIDGE_RULES_TOPIC", help="Config store topic."
    ),
    buses: str | None = typer.Option(
        None, "--buses", help="Comma-separated fixed bus list instead of the config store."
    ),
    openapi: Path | None = typer.Option(
        None, "--openapi", help="Write the OpenAPI document to this file and exit."
    ),
) -> None:
    """Serve PutEvents, CloudEvents HTTP, SaaS webhooks and the management API."""
    from processor.errors import ConfigError
    from processor.gateway.app import create_app
    from processor.gateway.auth import load_keys
    from processor.settings import load_settings

    settings = load_settings()
    try:
        keys = load_keys(api_keys) if api_keys else None
    except ConfigError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    known = [b.strip() for b in buses.split(",") if b.strip()] if buses else None
    app = create_app(settings, known_buses=known, keys=keys, rules_topic=rules_topic)
    if openapi is not None:
        openapi.write_text(json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n")
        typer.echo(f"wrote {openapi}")
        return
    import uvicorn

    uvicorn.run(
        app,
        host=host or settings.gateway.host,
        port=port or settings.gateway.port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


def gateway_key(
    name: str = typer.Argument(..., help="A name for the key (shown in logs)."),
    scope: list[str] = typer.Option(
        ["put:*"], "--scope", help="Scopes: admin, put:<bus>, put:*, *. Repeatable."
    ),
) -> None:
    """Mint a random API key: prints the key once and the hashed entry for --api-keys."""
    from processor.gateway.auth import dump_key

    key = secrets.token_urlsafe(32)
    typer.echo(f"key: {key}")
    typer.echo(f"api_keys entry: {dump_key(name, key, scope).decode()}")


def register(app: typer.Typer) -> None:
    """Add the gateway commands to the ``kbridge`` CLI."""
    app.command("gateway")(gateway)
    app.command("gateway-key")(gateway_key)
