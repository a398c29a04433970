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
