"""``kbridge route`` and ``kbridge test``: rule authoring without Kafka.

Exit codes: ``route`` 0 when some rule matched, 1 when none did, 2 for bad input (the
configuration or the event); ``test`` 0 when every case passed, 1 when one failed, 2 when a
test file or its configuration is invalid. ``-o`` is the output format, as in every command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from processor.config.commands import ENV_FILE_OPTION, FILE_OPTION

OUTPUT_OPTION = typer.Option("text", "--output", "-o", help="text | json | yaml")


def _dump(data: Any, output: str) -> str:
    if output == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    import yaml

    class _Dumper(yaml.SafeDumper):
        """Multi-line text (messages, templates) as ``|`` blocks, readable as sent."""

    def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _text)
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return text.removesuffix("...\n").rstrip("\n")


def _check_output(output: str, allowed: tuple[str, ...]) -> None:
    if output not in allowed:
        typer.echo(f"error: unknown output format {output!r} ({', '.join(allowed)})", err=True)
        raise typer.Exit(2)


def route(
    event: str = typer.Option(
        ..., "--event", "-e", help="The event: JSON, file://PATH, @PATH, PATH or - (stdin)."
    ),
    file: list[Path] = FILE_OPTION,
    env_file: Path | None = ENV_FILE_OPTION,
    bus: str | None = typer.Option(
        None, "--bus", help="The bus to put it on (default: the only bus)."
    ),
    output: str = OUTPUT_OPTION,
) -> None:
    """Route one event through the configuration offline (no Kafka).

    Shows the rules that match and, per target, the payload after its transformation and
    what the sink would send: the HTTP request, the chat message, the SQL row, the email.
    Accepts a CloudEvent (with specversion), an AWS event (source, detail-type, detail) or a
    PutEvents entry (Source, DetailType, Detail).
    """
    from processor.authoring.route import EventInputError, Router
    from processor.patterns.commands import read_input

    _check_output(output, ("text", "json", "yaml"))
    config = _load_or_exit(file, env_file)
    text = read_input(f"file://{event}" if _is_file(event) else event, "event")
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        typer.echo(f"error: the event is not JSON: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        result = Router(config).route(parsed, bus=bus)
    except EventInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if output != "text":
        typer.echo(_dump(result.as_json(), output))
    else:
        _print_route(result.as_json())
    raise typer.Exit(0 if result.matched_rules else 1)


def _is_file(argument: str) -> bool:
    """Whether ``argument`` names an existing file (inline JSON never does)."""
    if argument.lstrip().startswith(("{", "[")) or argument == "-":
        return False
    try:
        return Path(argument).is_file()
    except OSError:  # e.g. a name too long for the file system
        return False


def _load_or_exit(files: list[Path], env_file: Path | None) -> Any:
    from processor.config.commands import load_files

    try:
        return load_files(files, env_file, warn=False)
    except typer.Exit:
        raise typer.Exit(2) from None


def _print_route(result: dict[str, Any]) -> None:
    event = result["event"]
    typer.echo(
        f"bus {result['bus']}: event {event.get('id')} "
        f"(source {event.get('source')}, type {event.get('type')})"
    )
    if not result["matched_rules"]:
        typer.echo("no rule matched")
    else:
        typer.echo(f"matched: {', '.join(result['matched_rules'])}")
    for dead in result["dead_letters"]:
        typer.echo(f"dead letter ({dead['stage']}, {dead['code']}): {dead['message']}")
    for target in result["targets"]:
        typer.echo("")
        typer.echo(f"{target['rule']} -> {target['target']} ({target['kind']})")
        if "error" in target:
            typer.echo(f"  dead letter: {target['error']}")
            if not target.get("sent"):
                continue
        typer.echo(f"  payload ({target['content_type']}):")
        typer.echo(_indent(_dump(target["payload"], "yaml"), 4))
        typer.echo("  sent:")
        typer.echo(_indent(_dump(target["sent"], "yaml"), 4))


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in text.splitlines())


def test(
    paths: list[Path] = typer.Argument(
        None, help="Test files (*.kbridge-test.yaml) or directories (default: .)."
    ),
    env_file: Path | None = ENV_FILE_OPTION,
    output: str = typer.Option("text", "--output", "-o", help="text | json"),
) -> None:
    """Run YAML test files: input events and the rules and payloads they must produce."""
    from processor.authoring.testfiles import run
    from processor.config.commands import environment

    _check_output(output, ("text", "json"))
    env = _env_or_exit(env_file, environment)
    summary = run(paths or [Path(".")], env=env)
    if output == "json":
        data = {
            "passed": len(summary.results) - summary.failed,
            "failed": summary.failed,
            "errors": summary.errors,
            "seconds": round(summary.seconds, 4),
            "cases": [
                {"file": r.file, "name": r.name, "passed": r.passed, "failures": r.failures}
                for r in summary.results
            ],
        }
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        current = None
        for result in summary.results:
            if result.file != current:
                current = result.file
                typer.echo(current)
            typer.echo(f"  {'PASS' if result.passed else 'FAIL'} {result.name}")
            for failure in result.failures:
                typer.echo(_indent(failure, 6))
        for line in summary.errors:
            typer.echo(line, err=True)
        passed = len(summary.results) - summary.failed
        typer.echo(f"{passed} passed, {summary.failed} failed in {summary.seconds:.2f} s")
    if summary.errors:
        raise typer.Exit(2)
    raise typer.Exit(0 if summary.ok else 1)


def _env_or_exit(env_file: Path | None, environment: Any) -> dict[str, str]:
    try:
        env: dict[str, str] = environment(env_file)
    except typer.Exit:
        raise typer.Exit(2) from None
    return env


def register(app: typer.Typer) -> None:
    """Attach ``route`` and ``test`` to the ``kbridge`` app."""
    app.command("route")(route)
    app.command("test")(test)
