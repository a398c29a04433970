"""``kbridge status``: groups, lag, dead letters and sources at a glance; non-zero if unhealthy."""

from __future__ import annotations

from pathlib import Path

import typer

from processor.status.render import FORMATS


def _check_output(value: str) -> str:
    if value not in FORMATS:
        raise typer.BadParameter(f"{value!r} is not an output format; use {', '.join(FORMATS)}")
    return value


def status(
    output: str = typer.Option(
        "table", "-o", "--output", callback=_check_output, help="table, json or yaml"
    ),
    file: Path | None = typer.Option(
        None,
        "-f",
        "--file",
        help="the buses, targets and sources of this kbridge.yaml instead of the live ones",
    ),
    max_lag: int = typer.Option(
        1000, "--max-lag", min=0, help="unhealthy when a router or sink group lags more"
    ),
    max_dead_letters: int | None = typer.Option(
        None, "--max-dead-letters", min=0, help="unhealthy when a target holds more dead letters"
    ),
    router_group: str = typer.Option(
        "kbridge-router", "--router-group", help="the routers' --group-id"
    ),
) -> None:
    """Router and sink groups (members, lag), dead letters with the last error, sources.

    Exit code 0 when healthy, 1 when something is not (a group with no members, lag over
    --max-lag, dead letters over --max-dead-letters, a source not running), 2 on bad input.
    """
    from processor.config.store import follow_or_load
    from processor.errors import KbridgeError, RetriableError
    from processor.settings import load_settings
    from processor.status.collect import Thresholds, collect
    from processor.status.render import render

    settings = load_settings()
    try:
        snapshot, store = follow_or_load(settings.kafka, settings.rules_topic, file)
    except RetriableError as exc:
        typer.echo(f"kbridge status: {exc.message}", err=True)
        raise typer.Exit(1) from None
    try:
        report = collect(
            snapshot(),
            settings.kafka,
            router_group=router_group,
            thresholds=Thresholds(max_lag=max_lag, max_dead_letters=max_dead_letters),
        )
    except KbridgeError as exc:
        typer.echo(f"kbridge status: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        if store is not None:
            store.stop()
    text = render(report, output)
    if text is not None:
        typer.echo(text)
    raise typer.Exit(0 if report.healthy else 1)


def register(app: typer.Typer) -> None:
    """Attach ``kbridge status``."""
    app.command("status")(status)
