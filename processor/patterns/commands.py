"""``kbridge test-pattern``: try an event pattern on an event, like AWS TestEventPattern.

Exit status is the answer, so scripts can use it: 0 ``match``, 1 ``no match``, 2 the pattern
(or the event) is invalid, with the reason on stderr. As with the AWS CLI, the pattern and
the event are JSON text, ``file://PATH`` or ``-`` (standard input); ``@PATH`` works too.
``-o json`` prints ``{"Result": true|false}``, the shape of TestEventPattern's answer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

PATTERN_OPTION = typer.Option(
    ...,
    "--pattern",
    "--event-pattern",
    "-p",
    help="Event pattern: JSON, file://PATH, @PATH or - (standard input).",
)
EVENT_OPTION = typer.Option(
    ..., "--event", "-e", help="Event: JSON, file://PATH, @PATH or - (standard input)."
)
OUTPUT_OPTION = typer.Option("text", "--output", "-o", help="text | json")


def read_input(argument: str, what: str, *, code: int = 2) -> str:
    """The argument itself, or the text of ``file://PATH``, ``@PATH`` or ``-`` (stdin).

    An unreadable file exits with ``code`` and one line naming it.
    """
    if argument == "-":
        return sys.stdin.read()
    if argument.startswith("file://"):
        name = argument[len("file://") :]
    elif argument.startswith("@"):
        name = argument[1:]
    else:
        return argument
    path = Path(name)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        typer.echo(f"error: cannot read {what} file {path}: {reason}", err=True)
        raise typer.Exit(code) from None


def test_pattern(
    pattern: str = PATTERN_OPTION, event: str = EVENT_OPTION, output: str = OUTPUT_OPTION
) -> None:
    """Print `match` or `no match` for EVENT against PATTERN (exit 0 / 1; 2 if invalid)."""
    from processor.errors import InvalidEventError
    from processor.patterns import PatternError, compile_pattern

    if output not in ("text", "json"):
        typer.echo(f"error: unknown output format {output!r} (text or json)", err=True)
        raise typer.Exit(2)
    if pattern == "-" and event == "-":
        typer.echo("error: only one of --event-pattern and --event can read stdin", err=True)
        raise typer.Exit(2)
    try:
        compiled = compile_pattern(read_input(pattern, "pattern"))
    except PatternError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    try:
        matched = compiled.matches(read_input(event, "event"))
    except InvalidEventError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if output == "json":
        typer.echo(json.dumps({"Result": matched}))
    else:
        typer.echo("match" if matched else "no match")
    raise typer.Exit(0 if matched else 1)


def register(app: typer.Typer) -> None:
    """Attach ``test-pattern`` to the ``kbridge`` app."""
    app.command("test-pattern")(test_pattern)
