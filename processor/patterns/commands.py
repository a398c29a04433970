"""``kbridge test-pattern``: try an event pattern on an event, like AWS TestEventPattern.

Exit status is the answer, so scripts can use it: 0 ``match``, 1 ``no match``, 2 the pattern
(or the event) is invalid, with the reason on stderr.
"""

from __future__ import annotations

from pathlib import Path

import typer

PATTERN_OPTION = typer.Option(
    ..., "--pattern", "-p", help="Event pattern as JSON, or @FILE to read it from a file."
)
EVENT_OPTION = typer.Option(
    ..., "--event", "-e", help="Event as JSON, or @FILE to read it from a file."
)


def _read(argument: str, what: str) -> str:
    """The argument itself, or the content of the file named after ``@``."""
    if not argument.startswith("@"):
        return argument
    path = Path(argument[1:])
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot read {what} file {path}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None


def test_pattern(pattern: str = PATTERN_OPTION, event: str = EVENT_OPTION) -> None:
    """Print `match` or `no match` for EVENT against PATTERN (exit 0 / 1; 2 if invalid)."""
    from processor.errors import InvalidEventError
    from processor.patterns import PatternError, compile_pattern

    try:
        compiled = compile_pattern(_read(pattern, "pattern"))
    except PatternError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    try:
        matched = compiled.matches(_read(event, "event"))
    except InvalidEventError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo("match" if matched else "no match")
    raise typer.Exit(0 if matched else 1)


def register(app: typer.Typer) -> None:
    """Attach ``test-pattern`` to the ``kbridge`` app."""
    app.command("test-pattern")(test_pattern)
