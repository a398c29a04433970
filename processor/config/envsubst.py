"""``${VAR}`` and ``${VAR:-default}`` references in kbridge.yaml values.

Substitution happens on the parsed YAML's string values, never on the raw text, so a
secret containing quotes, ``#`` or newlines cannot change the document's structure.
``$${VAR}`` stands for a literal ``${VAR}``. As in the shell, ``${VAR:-default}`` uses the
default when the variable is unset or empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from processor.config.problems import ConfigProblem, format_location

_REFERENCE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute(raw: Any, env: Mapping[str, str]) -> tuple[Any, list[ConfigProblem]]:
    """``raw`` with every reference in its string values replaced from ``env``.

    Returns the new data and one problem per missing variable (named with its location).
    """
    problems: list[ConfigProblem] = []

    def walk(node: Any, path: tuple[int | str, ...]) -> Any:
        if isinstance(node, str):
            return _substitute_string(node, env, path, raw, problems)
        if isinstance(node, dict):
            return {key: walk(value, (*path, str(key))) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value, (*path, index)) for index, value in enumerate(node)]
        return node

    return walk(raw, ()), problems


def _substitute_string(
    text: str,
    env: Mapping[str, str],
    path: tuple[int | str, ...],
    raw: Any,
    problems: list[ConfigProblem],
) -> str:
    if "${" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        escaped, name, default = match.group(1), match.group(2), match.group(3)
        if escaped:
            return match.group(0)[1:]
        value = env.get(name)
        if default is not None:
            return value if value else default
        if value is None:
            problems.append(
                ConfigProblem(
                    format_location(path, raw, union_tags=False),
                    f"environment variable {name} is not set "
                    f"(use ${{{name}:-default}} for a default)",
                )
            )
            return ""
        return value

    return _REFERENCE.sub(replace, text)


_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def read_env_file(path: str) -> tuple[dict[str, str], list[ConfigProblem]]:
    """``KEY=value`` lines of an env file (``--env-file``), as docker and systemd read them.

    Blank lines and ``#`` comments are skipped, ``export`` is allowed, a value in single or
    double quotes is unquoted. Each line that is not an assignment is a problem naming
    ``file:line``.
    """
    values: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return {}, [ConfigProblem("", f"cannot read the env file: {reason}", path)]
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            problems.append(
                ConfigProblem(
                    "", "expected KEY=value (a variable name, '=', its value)", path, number
                )
            )
            continue
        name, value = match.group(1), match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values, problems
