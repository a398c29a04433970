"""``-o`` means the output format in every kbridge command (issue 19 item 5)."""

from __future__ import annotations

from typing import Any

import typer.main
from typer.testing import CliRunner

from processor.cli import build_app

runner = CliRunner()


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer may bring its own click)
            found.extend(_commands(command, f"{prefix}{name} "))
        else:
            found.append((f"{prefix}{name}", command))
    return found


def test_every_o_option_is_the_output_format() -> None:
    root = typer.main.get_command(build_app())
    with_o = {}
    for name, command in _commands(root):
        for param in command.params:
            if "-o" in getattr(param, "opts", ()):
                with_o[name] = param
    assert {"get", "route", "test", "test-pattern", "schema", "dlq list"} <= set(with_o)
    for name, param in with_o.items():
        assert "--output" in param.opts, name
        assert param.name == "output", name


def test_an_unknown_format_is_a_clear_error() -> None:
    for args in (
        ["schema", "-o", "xml"],
        ["test-pattern", "-p", '{"a": [1]}', "-e", "{}", "-o", "xml"],
        ["test", ".", "-o", "xml"],
        ["dlq", "list", "some-target", "-o", "xml"],
    ):
        result = runner.invoke(build_app(), args)
        assert result.exit_code in (1, 2), args
        assert "unknown output format 'xml'" in result.stderr, args
