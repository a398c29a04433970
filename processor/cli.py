"""The ``kbridge`` command line.

Each area of the package contributes its commands through a ``commands`` module exposing
``register(app)``; this file only assembles them, so that ``kbridge --help`` stays fast and
every command's heavy imports happen inside the command itself.

It also owns the failures a user can cause outside any one command: a bad ``--log-level``,
a bad ``KBRIDGE_*`` setting, Kafka unreachable or refusing the credentials. :func:`main`
turns those into one readable line and a non-zero exit instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, NoReturn

import typer

from processor import __version__, logs

if TYPE_CHECKING:
    from processor.errors import KbridgeError
    from processor.kafka.config import KafkaClientConfig

COMMAND_MODULES: tuple[str, ...] = (
    "processor.authoring.commands",
    "processor.config.commands",
    "processor.demo_commands",
    "processor.gateway.commands",
    "processor.patterns.commands",
    "processor.render.commands",
    "processor.router.commands",
    "processor.sinks.commands",
    "processor.sources.commands",
    "processor.status.commands",
    "processor.trace.commands",
)

app = typer.Typer(
    name="kbridge",
    help="kbridge: a Kafka-native event bridge (EventBridge-compatible rules on Kafka).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMAT = logs.TEXT_FORMAT
"""kbridge's text log format; librdkafka's lines (processor.kafka.librdkafka) use it too."""


def _check_log_format(value: str) -> str:
    try:
        return logs.check_format(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _check_log_level(value: str) -> str:
    level = value.strip().upper()
    if level == "WARN":
        level = "WARNING"
    if level not in LOG_LEVELS:
        raise typer.BadParameter(
            f"{value!r} is not a log level; use one of {', '.join(LOG_LEVELS)} "
            "(any case; also KBRIDGE_LOG_LEVEL)"
        )
    return level


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kbridge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    log_level: str = typer.Option(
        "INFO",
        "--log-level",
        envvar="KBRIDGE_LOG_LEVEL",
        callback=_check_log_level,
        help=f"one of {', '.join(LOG_LEVELS)}",
    ),
    log_format: str = typer.Option(
        "text",
        "--log-format",
        envvar="KBRIDGE_LOG_FORMAT",
        callback=_check_log_format,
        help="text, or json: one JSON object per line (docs/operations.md#logs)",
    ),
    _version: bool = typer.Option(
        False, "--version", "-V", callback=_print_version, is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Set up logging once for every command (the command's name is the process kind)."""
    logs.configure(log_format, log_level, kind=ctx.invoked_subcommand)


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


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"kbridge: error: {message}", err=True)
    sys.exit(code)


def _kafka_settings() -> KafkaClientConfig:
    """The Kafka settings for an error message; the defaults if they are themselves bad."""
    from processor.errors import KbridgeError
    from processor.kafka.config import KafkaClientConfig
    from processor.settings import load_settings

    try:
        return load_settings().kafka
    except KbridgeError:
        return KafkaClientConfig()


def _with_kafka_cause(exc: KbridgeError) -> str:
    """The error's message; for a transient failure that names the brokers, also why.

    "could not read kbridge.rules from host:9096 ... Broker transport failure" does not say
    that the password was wrong; a short probe of the same brokers does.
    """
    from processor.kafka.failures import probe, with_cause

    config = _kafka_settings()
    if not exc.retriable or config.bootstrap_servers not in exc.message:
        return exc.message
    cause = probe(config)
    if cause is None:
        return exc.message
    return with_cause(exc.message, cause, config)


def main() -> None:
    """Console-script entry point: user-caused failures become one line and exit 1."""
    from confluent_kafka import KafkaException

    from processor.errors import KbridgeError

    try:
        build_app()()
    except KbridgeError as exc:
        _fail(_with_kafka_cause(exc))
    except KafkaException as exc:
        from processor.kafka.failures import explain

        _fail(explain(exc, _kafka_settings()))
