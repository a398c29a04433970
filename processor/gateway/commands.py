"""``kbridge gateway`` (serve the HTTP gateway) and ``kbridge gateway-key`` (mint an API key)."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

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
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        envvar="KBRIDGE_GATEWAY__WORKERS",
        help="Processes serving the port, each with its own Kafka producer "
        "(default: one per core).",
    ),
) -> None:
    """Serve PutEvents, CloudEvents HTTP, SaaS webhooks and the management API."""
    from processor.errors import ConfigError
    from processor.gateway.auth import load_keys
    from processor.settings import load_settings

    if host:  # the request guard and its exposure warning see the address actually bound
        os.environ["KBRIDGE_GATEWAY__HOST"] = host
    settings = load_settings()
    try:
        keys = load_keys(api_keys) if api_keys else None
    except ConfigError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    known = [b.strip() for b in buses.split(",") if b.strip()] if buses else None
    spec = {"api_keys": str(api_keys) if api_keys else None, "rules_topic": rules_topic}
    spec["buses"] = known  # type: ignore[assignment]
    count = workers or settings.gateway.workers or usable_cores()
    if openapi is not None:
        from processor.gateway.app import create_app

        app = create_app(settings, known_buses=known, keys=keys, rules_topic=rules_topic)
        openapi.write_text(json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n")
        typer.echo(f"wrote {openapi}")
        return
    import uvicorn

    from processor.gateway.protocol import GatewayProtocol
    from processor.logs import current_dict_config

    options: dict[str, Any] = {
        "host": host or settings.gateway.host,
        "port": port or settings.gateway.port,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "log_config": current_dict_config(),  # --log-format for uvicorn's lines and workers
        "http": GatewayProtocol,  # uvicorn's httptools protocol + the lean ingest routes
        "loop": "uvloop",
    }
    if count == 1:
        from processor.gateway.app import create_app

        uvicorn.run(
            create_app(settings, known_buses=known, keys=keys, rules_topic=rules_topic), **options
        )
        return
    # uvicorn's worker model: this process binds the port and supervises ``count`` spawned
    # processes (restarting any that dies); each builds its own app, producer and config
    # store from SPEC_ENV. Metrics are aggregated across them (prometheus multiprocess).
    os.environ[SPEC_ENV] = json.dumps(spec)
    with tempfile.TemporaryDirectory(prefix="kbridge-gateway-metrics-") as metrics_dir:
        os.environ.setdefault(MULTIPROC_ENV, metrics_dir)
        uvicorn.run(f"{__name__}:worker_app", factory=True, workers=count, **options)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count).

    A container's CPU quota is not visible here: set ``--workers`` or
    ``KBRIDGE_GATEWAY__WORKERS`` to the pod's CPU limit there.
    """
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return max(1, len(affinity(0)))
    return os.cpu_count() or 1


SPEC_ENV = "KBRIDGE_GATEWAY_WORKER_SPEC"
"""How the supervisor hands the command line's choices to its worker processes."""
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def worker_app() -> Any:
    """The app of one worker process (``uvicorn --factory``), built from :data:`SPEC_ENV`."""
    from processor.gateway.app import create_app
    from processor.gateway.auth import load_keys
    from processor.settings import load_settings

    spec = json.loads(os.environ[SPEC_ENV])
    keys = load_keys(Path(spec["api_keys"])) if spec.get("api_keys") else None
    return create_app(
        load_settings(), known_buses=spec.get("buses"), keys=keys, rules_topic=spec["rules_topic"]
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
