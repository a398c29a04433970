"""``kbridge sink <target>`` and ``kbridge dlq list|redrive <target>``."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import Any

import typer

log = logging.getLogger(__name__)

dlq_app = typer.Typer(help="Inspect and redrive a target's dead letters.", no_args_is_help=True)


def sink(
    names: list[str] | None = typer.Argument(
        None,
        metavar="TARGET...",
        help="the target's name (several: one process, each target isolated)",
    ),
    more: list[str] | None = typer.Option(None, "--target", help="a target (repeatable)"),
    every: bool = typer.Option(
        False, "--all", help="every target of the configuration, following additions and removals"
    ),
    kinds: list[str] | None = typer.Option(
        None, "--kind", help="every target of this kind, e.g. webhook (repeatable)"
    ),
    file: Path | None = typer.Option(
        None,
        "-f",
        "--file",
        help="read targets and rules from this kbridge.yaml instead of the live kbridge.rules",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        help="serve /healthz, /readyz and /metrics on this port (default: KBRIDGE_METRICS_PORT)",
    ),
) -> None:
    """Run a sink worker for one target (group kbridge-sink-<target>); SIGTERM stops it.

    Several targets (names, --target, --all, --kind) run in one process, each with its own
    group, topic, retries and concurrency (docs/operations.md#many-targets-in-one-process).
    """
    chosen = [*(names or []), *(more or [])]
    if not chosen and not every and not kinds:
        raise typer.BadParameter("name a target, or use --all or --kind", param_hint="TARGET")
    if len(chosen) != 1 or every or kinds:
        _run_many(chosen, every, kinds or [], file, metrics_port)
        return
    target = chosen[0]
    from processor.config.store import follow_or_load
    from processor.errors import KbridgeError, RetriableError
    from processor.kafka.admin import TopicSpec, ensure_topics
    from processor.kafka.topics import target_dlq_topic, target_topic
    from processor.observability.kafkawatch import serve_process_health
    from processor.settings import load_settings
    from processor.sinks.http.redact import redact_httpx_logs
    from processor.sinks.metrics import SinkMetrics
    from processor.sinks.worker import SinkWorker, group_id

    redact_httpx_logs()  # httpx logs request URLs, and destination URLs may hold tokens
    settings = load_settings()
    store: Any = None
    try:
        try:
            snapshot, store = follow_or_load(settings.kafka, settings.rules_topic, file)
        except RetriableError as exc:  # the live topic is unreadable; a bad file is not
            raise typer.BadParameter(exc.message) from None
        definition = snapshot().target(target)
        if definition is None and file is not None:  # a file does not change: fail now
            known = ", ".join(sorted(t.name for t in snapshot().targets)) or "none"
            typer.echo(
                f"kbridge sink: {file} has no target {target!r} (targets: {known})", err=True
            )
            raise typer.Exit(2)
        if definition is None:
            typer.echo(f"kbridge sink: no target named {target!r} (yet); waiting for it", err=True)
        partitions = getattr(definition, "partitions", 3)
        ensure_topics(
            settings.kafka,
            [TopicSpec(target_topic(target), partitions), TopicSpec(target_dlq_topic(target), 1)],
        )

        serve_process_health(  # /healthz, /readyz, /metrics (docs/operations.md#health)
            metrics_port if metrics_port is not None else settings.metrics_port,
            settings.metrics_host,
            settings.kafka,
            group=group_id(target),
            unreachable_after=settings.ready_kafka_timeout,
            checks={"config": lambda: None if snapshot().target(target) else "no such target"},
        )

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            worker = SinkWorker(
                target, kafka=settings.kafka, snapshot=snapshot, metrics=SinkMetrics()
            )
            await worker.run(stop)

        asyncio.run(main())
    except KbridgeError as exc:
        typer.echo(f"kbridge sink {target}: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        if store is not None:
            store.stop()


def _run_many(
    names: list[str], every: bool, kinds: list[str], file: Path | None, metrics_port: int | None
) -> None:
    """``kbridge sink a b``, ``--all``, ``--kind``: one :class:`MultiSink` in this process."""
    from processor.config.store import follow_or_load
    from processor.errors import KbridgeError, RetriableError
    from processor.kafka.admin import TopicSpec, ensure_topics
    from processor.kafka.producer import Producer
    from processor.kafka.topics import target_dlq_topic, target_topic
    from processor.observability.kafkawatch import serve_process_health
    from processor.settings import load_settings
    from processor.sinks.http.redact import redact_httpx_logs
    from processor.sinks.metrics import SinkMetrics
    from processor.sinks.multi import MultiSink, TargetSelection
    from processor.sinks.worker import SinkWorker

    _refuse_unknown_kinds(kinds)
    redact_httpx_logs()
    settings = load_settings()
    try:
        snapshot, store = follow_or_load(settings.kafka, settings.rules_topic, file)
    except RetriableError as exc:
        raise typer.BadParameter(exc.message) from None
    selection = TargetSelection.of(names, every, kinds)
    if file is not None:  # a file does not change: a selection it cannot satisfy is a mistake
        _refuse_static_gaps(file, snapshot(), selection, names)
    metrics = SinkMetrics()

    def prepare(name: str) -> None:
        partitions = getattr(snapshot().target(name), "partitions", 3)
        ensure_topics(
            settings.kafka,
            [TopicSpec(target_topic(name), partitions), TopicSpec(target_dlq_topic(name), 1)],
        )

    def missing() -> str | None:
        known = {t.name for t in snapshot().targets}
        absent = sorted(set(names) - known)
        return f"no target {', '.join(absent)}" if absent else None

    serve_process_health(  # group membership is per target: kbridge status shows it
        metrics_port if metrics_port is not None else settings.metrics_port,
        settings.metrics_host,
        settings.kafka,
        unreachable_after=settings.ready_kafka_timeout,
        checks={"config": missing},
    )

    # One producer for every worker's dead letters (and kafka-kind targets): it is
    # thread-safe and its queue is not a target's state, while a producer per worker cost
    # each idle target its own librdkafka threads and buffers (docs/operations.md).
    producer = Producer(settings.kafka)

    async def start_worker(name: str, stop: asyncio.Event) -> None:
        worker = SinkWorker(
            name, kafka=settings.kafka, snapshot=snapshot, metrics=metrics, producer=producer
        )
        await worker.run(stop)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await MultiSink(selection, snapshot, start_worker, prepare=prepare).run(stop)
        finally:  # every worker stopped: their last dead letters are flushed here
            await asyncio.to_thread(producer.close, 10.0)

    try:
        asyncio.run(main())
    except KbridgeError as exc:
        typer.echo(f"kbridge sink: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        if store is not None:
            store.stop()


def _refuse_unknown_kinds(kinds: list[str]) -> None:
    """``--kind webhok`` would select nothing forever: exit 2 naming the known kinds."""
    from processor.sinks.kinds import BUILTIN

    unknown = sorted(set(kinds) - set(BUILTIN))
    if unknown:
        typer.echo(
            f"kbridge sink: unknown --kind {', '.join(unknown)} (kinds: {', '.join(BUILTIN)})",
            err=True,
        )
        raise typer.Exit(2)


def _refuse_static_gaps(file: Path, config: Any, selection: Any, names: list[str]) -> None:
    """With ``-f``, a named target missing from the file, or a selection of no target at
    all, never resolves (only the live configuration changes): exit 2 saying what is there."""
    known = sorted(t.name for t in config.targets)
    missing = sorted(set(names) - set(known))
    listed = ", ".join(known) or "none"
    if missing:
        absent = ", ".join(repr(n) for n in missing)
        typer.echo(f"kbridge sink: {file} has no target {absent} (targets: {listed})", err=True)
        raise typer.Exit(2)
    if not selection.pick(config):
        message = f"{file} has no target of {selection.describe()} (targets: {listed})"
        typer.echo(f"kbridge sink: {message}", err=True)
        raise typer.Exit(2)


@dlq_app.command("list")
def dlq_list(
    target: str = typer.Argument(..., help="the target's name"),
    limit: int = typer.Option(100, "--limit", "-n", help="show at most this many"),
    as_json: bool = typer.Option(False, "--json", help="same as -o json"),
    output: str = typer.Option("table", "--output", "-o", help="table | json (one object a line)"),
) -> None:
    """Show the dead letters of a target: event id, rule, error code, condition, attempts."""
    from processor.errors import KbridgeError
    from processor.settings import load_settings
    from processor.sinks.dlq import list_dead_letters

    if output not in ("table", "json"):
        typer.echo(f"error: unknown output format {output!r} (table or json)", err=True)
        raise typer.Exit(2)
    try:
        records = list_dead_letters(load_settings().kafka, target, limit=limit)
    except KbridgeError as exc:
        typer.echo(f"kbridge dlq list {target}: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json or output == "json":
        for record in records:
            typer.echo(json.dumps(record.summary(), ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dead letters of {target} ({len(records)})")
    for column in (
        "p@offset",
        "failed at",
        "event id",
        "rule",
        "code",
        "condition",
        "tries",
        "message",
    ):
        table.add_column(column)
    for record in records:
        row = record.summary()
        table.add_row(
            f"{row['partition']}@{row['offset']}",
            str(row["failed_at"]),
            str(row["event_id"]),
            str(row["rule"]),
            str(row["code"]),
            str(row["condition"]),
            str(row["attempts"]),
            str(row["message"])[:80],
        )
    Console().print(table)


@dlq_app.command("redrive")
def dlq_redrive(
    target: str = typer.Argument(..., help="the target's name"),
    since: str | None = typer.Option(
        None,
        "--since",
        help="from this time (ISO 8601) or age (90m, 24h); default: not yet redriven",
    ),
) -> None:
    """Send dead letters back to the target's egress topic for delivery."""
    from processor.errors import KbridgeError
    from processor.settings import load_settings
    from processor.sinks.dlq import parse_since, redrive

    try:
        start = parse_since(since) if since else None
        sent = redrive(load_settings().kafka, target, since=start)
    except KbridgeError as exc:
        typer.echo(f"kbridge dlq redrive {target}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"redrove {sent} dead letters to {target}")


def register(app: typer.Typer) -> None:
    """Attach ``kbridge sink`` and ``kbridge dlq`` to the CLI."""
    app.command("sink")(sink)
    app.add_typer(dlq_app, name="dlq")
