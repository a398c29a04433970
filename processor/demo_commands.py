"""``kbridge demo``: the three design scenarios end to end against a running Kafka.

``make demo`` (scripts/demo.sh) also installs the package and starts the local broker
first; this command assumes Kafka answers at ``KBRIDGE_KAFKA__BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

import typer


def demo(
    engine: str = typer.Option("faust", "--engine", help="router engine: faust or native"),
    timeout: float = typer.Option(120.0, "--timeout", help="seconds to wait for deliveries"),
    quiet: bool = typer.Option(False, "--quiet", help="do not print received messages"),
) -> None:
    """Run the demo: gateway, router and sinks on the example config, sample events, a summary."""
    from processor.demo import main

    argv = ["run", "--engine", engine, "--timeout", str(timeout)]
    if quiet:
        argv.append("--quiet")
    raise typer.Exit(main(argv))


def register(app: typer.Typer) -> None:
    """Attach the demo command."""
    app.command("demo")(demo)
