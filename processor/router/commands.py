"""``kbridge router`` and ``kbridge replay``."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime
from enum import StrEnum
from types import FrameType

import typer

log = logging.getLogger(__name__)


class Engine(StrEnum):
    """Which loop drives the routing core."""

    faust = "faust"
    native = "native"


def _parse_time(text: str, option: str) -> datetime:
    if text == "now":
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time such as 2026-11-26T10:00:00Z", param_hint=option
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def router(
    engine: Engine = typer.Option(Engine.faust, "--engine", help="faust (default) or native"),
    exactly_once: bool = typer.Option(
        False, "--exactly-once", help="Kafka transactions: each routed event exactly once"
    ),
    group_id: str = typer.Option("kbridge-router", "--group-id", help="consumer group"),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        envvar="KBRIDGE_METRICS_PORT",
        help="serve /healthz, /readyz and /metrics here",
    ),
    batch_size: int = typer.Option(500, "--batch-size", min=1, max=100_000),
    unwritable_timeout: float = typer.Option(
        60.0,
        "--unwritable-timeout",
        envvar="KBRIDGE_ROUTER_UNWRITABLE_TIMEOUT",
        min=0.0,
        help="seconds a target whose egress topic cannot be written (missing topic or ACL) "
        "holds its records before they go to the bus's dead-letter topic",
    ),
    transaction_timeout: float = typer.Option(
        10.0,
        "--transaction-timeout",
        envvar="KBRIDGE_ROUTER_TRANSACTION_TIMEOUT",
        min=1.0,
        max=900.0,
        help="native engine, --exactly-once: seconds before Kafka aborts the transaction of "
        "a router that died inside it (readers and its successor wait that long)",
    ),
) -> None:
    """Route every bus's ingress topic to its targets' egress topics (live rules)."""
    from processor.config.store import ConfigStore
    from processor.observability.kafkawatch import serve_process_health
    from processor.router.live import LiveTable
    from processor.router.metrics import RouterMetrics
    from processor.settings import load_settings

    settings = load_settings()
    live = LiveTable()
    live.follow(ConfigStore(settings.kafka, topic=settings.rules_topic))
    metrics = RouterMetrics()
    serve_process_health(  # /healthz, /readyz, /metrics (docs/operations.md#health)
        metrics_port,
        settings.metrics_host,
        settings.kafka,
        group=group_id,
        unreachable_after=settings.ready_kafka_timeout,
        checks={"config": lambda: None if live.table.by_topic else "no bus configured"},
    )
    typer.echo(
        f"kbridge router: engine={engine.value} exactly_once={exactly_once} "
        f"group={group_id} kafka={settings.kafka.bootstrap_servers}",
        err=True,
    )
    try:
        if engine is Engine.native:
            from processor.router.engines.native import NativeRouter

            loop = NativeRouter(
                settings.kafka,
                live,
                group_id=group_id,
                exactly_once=exactly_once,
                batch_size=batch_size,
                metrics=metrics,
                unwritable_timeout=unwritable_timeout,
                transaction_timeout=transaction_timeout,
            )

            def stop(_signum: int, _frame: FrameType | None) -> None:
                loop.stop()

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            loop.run()
        else:
            from processor.router.engines.faust import create_app, run_worker

            if not live.wait_for_buses():
                typer.echo("kbridge router: no bus configured; run `kbridge apply`", err=True)
                raise typer.Exit(2)

            app = create_app(
                settings.kafka,
                live,
                group_id=group_id,
                exactly_once=exactly_once,
                batch_size=batch_size,
                metrics=metrics,
                unwritable_timeout=unwritable_timeout,
            )
            run_worker(app, log_level=settings.log_level)
    finally:
        live.stop()


def replay(
    bus: str = typer.Option(..., "--bus", help="the bus whose archive to replay"),
    start: str = typer.Option(..., "--from", help="ISO 8601 start time (inclusive)"),
    end: str = typer.Option("now", "--to", help="ISO 8601 end time (exclusive), default now"),
    rule: str | None = typer.Option(None, "--rule", help="only this rule sees the events"),
) -> None:
    """Re-send archived events of a bus between two times (shows progress)."""
    from rich.progress import Progress

    from processor.router.replay import plan_replay
    from processor.router.replay import replay as run_replay
    from processor.settings import load_settings

    settings = load_settings()
    begin, finish = _parse_time(start, "--from"), _parse_time(end, "--to")
    if finish <= begin:
        raise typer.BadParameter("--to must be after --from", param_hint="--to")
    try:
        plan = plan_replay(settings.kafka, bus, begin, finish)
    except ValueError as exc:
        typer.echo(f"kbridge replay: {exc}", err=True)
        raise typer.Exit(2) from None
    with Progress(transient=False) as progress:
        task = progress.add_task(f"replaying {plan.topic}", total=plan.total or 1)
        sent = run_replay(
            settings.kafka,
            plan,
            rule=rule,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
        progress.update(task, completed=plan.total or 1)
    typer.echo(f"replayed {sent} events from {plan.topic}" + (f" for rule {rule}" if rule else ""))


def register(app: typer.Typer) -> None:
    """Attach the router commands."""
    app.command("router")(router)
    app.command("replay")(replay)
