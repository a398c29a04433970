"""``kbridge trace <event-id>`` and ``kbridge trace --bus B --since 10m``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from processor.trace.record import TraceRecord


def trace(
    event_id: str | None = typer.Argument(None, help="the event id (CloudEvents id)"),
    output: str = typer.Option("table", "-o", "--output", help="table or json"),
    since: str | None = typer.Option(
        None, "--since", help="how far back to look: 90s, 10m, 24h (default 24h, search 10m)"
    ),
    bus: str | None = typer.Option(None, "--bus", help="search: recent events of this bus"),
    source: str | None = typer.Option(None, "--source", help="search: events of this source"),
    type_: str | None = typer.Option(None, "--type", help="search: events of this type"),
    limit: int = typer.Option(50, "--limit", "-n", help="search: show at most this many"),
) -> None:
    """Show where an event went (accepted, routed, delivered or dead-lettered), or search."""
    from processor.config.durations import parse_duration
    from processor.errors import KbridgeError
    from processor.settings import load_settings
    from processor.trace import lookup, render

    if output not in ("table", "json"):
        raise typer.BadParameter("use -o table or -o json", param_hint="-o")
    searching = event_id is None
    if searching and bus is None and source is None and type_ is None:
        raise typer.BadParameter("give an event id, or --bus/--source/--type to search")
    try:
        window = parse_duration(since) if since is not None else None
    except ValueError:
        raise typer.BadParameter(
            f"{since!r} is not a duration (90s, 10m, 24h)", param_hint="--since"
        ) from None
    try:
        kafka = load_settings().kafka
        if searching:
            found = lookup.search(
                kafka,
                bus=bus,
                source=source,
                type_=type_,
                limit=limit,
                since=window if window is not None else lookup.DEFAULT_SEARCH_SINCE,
            )
        else:
            assert event_id is not None
            records = lookup.trace_event(
                kafka, event_id, since=window if window is not None else lookup.DEFAULT_SINCE
            )
    except KbridgeError as exc:
        typer.echo(f"kbridge trace: {exc}", err=True)
        raise typer.Exit(1) from None
    if searching:
        _print_search(found, output)
        return
    assert event_id is not None
    if output == "json":
        typer.echo(json.dumps(render.as_json(event_id, records), ensure_ascii=False, indent=2))
    else:
        _print_timeline(event_id, records)
    if not records:
        raise typer.Exit(3)


def _print_timeline(event_id: str, records: list[TraceRecord]) -> None:
    from rich.console import Console
    from rich.table import Table

    from processor.trace import render

    if not records:
        typer.echo(f"no trace of event {event_id!r} in that window", err=True)
        return
    table = Table(title=f"event {event_id}: {render.outcome(records)}")
    for column in ("time", "stage", "by", "what"):
        table.add_column(column)
    for rec in records:
        table.add_row(render.when(rec.at), rec.stage, rec.by, render.detail(rec))
    Console(width=160).print(table)


def _print_search(found: list[TraceRecord], output: str) -> None:
    from processor.trace import render

    if output == "json":
        for rec in found:
            typer.echo(json.dumps({**rec.to_json(), "time": render.when(rec.at)}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"recent events ({len(found)})")
    for column in ("time", "event id", "bus", "source", "type"):
        table.add_column(column)
    for rec in found:
        table.add_row(
            render.when(rec.at), rec.event_id, rec.bus or "", rec.source or "", rec.type or ""
        )
    Console(width=160).print(table)


def register(app: typer.Typer) -> None:
    """Attach ``kbridge trace`` to the CLI."""
    app.command("trace")(trace)
