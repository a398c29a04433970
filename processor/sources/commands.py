"""``kbridge source <name>``: run one MQTT, AMQP, NATS, Kafka or schedule source."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import typer

log = logging.getLogger(__name__)


def source(
    name: str = typer.Argument(..., help="the source's name in kbridge.yaml"),
    file: Path | None = typer.Option(
        None,
        "-f",
        "--file",
        help="read the source from this kbridge.yaml instead of the live kbridge.rules topic",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        help="serve /healthz, /readyz and /metrics on this port (default: KBRIDGE_METRICS_PORT)",
    ),
) -> None:
    """Run a non-HTTP source: its events go to its bus's ingress topic (acks=all)."""
    from processor.config.provision import topic_specs
    from processor.config.store import follow_or_load
    from processor.errors import KbridgeError, RetriableError
    from processor.kafka.admin import ensure_topics
    from processor.kafka.topics import bus_dlq_topic, bus_topic
    from processor.observability.kafkawatch import serve_process_health
    from processor.settings import load_settings
    from processor.sources.metrics import register_source_metrics
    from processor.sources.runner import SourceRunner, run_until_signalled

    settings = load_settings()
    store: Any = None
    try:
        try:
            snapshot, store = follow_or_load(settings.kafka, settings.rules_topic, file)
        except RetriableError as exc:  # the live topic is unreadable; a bad file is not
            raise typer.BadParameter(exc.message) from None
        config = snapshot()
        definition = config.source(name)
        if definition is None:
            known = ", ".join(sorted(s.name for s in config.sources)) or "none"
            where = str(file) if file is not None else "the live configuration"
            typer.echo(
                f"kbridge source: {where} has no source {name!r} (sources: {known})", err=True
            )
            raise typer.Exit(2)
        wanted = {bus_topic(definition.bus), bus_dlq_topic(definition.bus)}
        ensure_topics(settings.kafka, [s for s in topic_specs(config) if s.name in wanted])
        typer.echo(
            f"kbridge source {name}: kind={definition.kind} bus={definition.bus} "
            f"from={definition.origin()} kafka={settings.kafka.bootstrap_servers}",
            err=True,
        )

        async def main() -> None:
            runner = SourceRunner(name, definition, settings.kafka)
            register_source_metrics(runner)
            serve_process_health(  # /healthz, /readyz, /metrics (docs/operations.md#health)
                metrics_port if metrics_port is not None else settings.metrics_port,
                settings.metrics_host,
                settings.kafka,
                unreachable_after=settings.ready_kafka_timeout,
                checks={"source": lambda: None if runner.state == "running" else runner.state},
            )
            if store is not None:
                loop = asyncio.get_running_loop()

                def on_change(change: Any) -> None:
                    if change.kind == "source" and change.name == name:
                        loop.call_soon_threadsafe(runner.replace, change.new)

                store.subscribe(on_change)
            await run_until_signalled(runner)

        asyncio.run(main())
    except KbridgeError as exc:
        typer.echo(f"kbridge source {name}: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        if store is not None:
            store.stop()


def register(app: typer.Typer) -> None:
    """Attach ``kbridge source`` to the CLI."""
    app.command("source")(source)
