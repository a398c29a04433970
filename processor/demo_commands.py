"""``kbridge demo``: the three design scenarios end to end against a running Kafka.

Only the command's options live here; the demo itself is the separate ``kbridge_demo``
package (``examples/kbridge_demo``, installed with kbridge), so the runtime package carries
no fake servers. ``make demo`` (scripts/demo.sh) also installs the package and starts the
local broker first; this command assumes Kafka answers at ``KBRIDGE_KAFKA__BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

import typer


def demo(
    engine: str = typer.Option("faust", "--engine", help="router engine: faust or native"),
    timeout: float = typer.Option(120.0, "--timeout", help="seconds to wait for deliveries"),
    quiet: bool = typer.Option(False, "--quiet", help="do not print received messages"),
) -> None:
    """Run the demo: gateway, router and sinks on the example config, sample events, a summary."""
    try:
        from kbridge_demo.run import main
    except ImportError as exc:
        typer.echo(f"kbridge demo: the demo package is not installed ({exc})", err=True)
        raise typer.Exit(2) from None

    argv = ["run", "--engine", engine, "--timeout", str(timeout)]
    if quiet:
        argv.append("--quiet")
    raise typer.Exit(main(argv))


def register(app: typer.Typer) -> None:
    """Attach the demo command."""
    app.command("demo")(demo)
