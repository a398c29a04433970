"""The ``kbridge`` command line.

Each area of the package contributes its commands through a ``commands`` module exposing
``register(app)``; this file only assembles them, so that ``kbridge --help`` stays fast and
every command's heavy imports happen inside the command itself.
"""

from __future__ import annotations

import importlib
import logging

import typer

from processor import __version__

COMMAND_MODULES: tuple[str, ...] = (
    "processor.config.commands",
    "processor.demo_commands",
    "processor.gateway.commands",
    "processor.patterns.commands",
    "processor.router.commands",
    "processor.sinks.commands",
    "processor.sources.commands",
)

app = typer.Typer(
    name="kbridge",
    help="kbridge: a Kafka-native event bridge (EventBridge-compatible rules on Kafka).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    log_level: str = typer.Option("INFO", "--log-level", envvar="KBRIDGE_LOG_LEVEL"),
) -> None:
    """Set up logging once for every command."""
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


@app.command()
def version() -> None:
    """Print the kbridge version."""
    typer.echo(__version__)


def build_app() -> typer.Typer:
    """Attach every area's commands (idempotent)."""
    if not getattr(app, "_kbridge_registered", False):
        for module_name in COMMAND_MODULES:
            importlib.import_module(module_name).register(app)
        app._kbridge_registered = True  # type: ignore[attr-defined]
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()
