"""Configuration problems and how they are reported: ``file:line:col: object.field: message``.

Everything that rejects configuration (YAML syntax, environment references, pydantic
validation, cross-checks) produces :class:`ConfigProblem` values, so ``kbridge validate``
can list every problem at once and the CLI never shows a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from processor.errors import ConfigError

_NEWLINES = re.compile(r"\s*\n\s*")
_UNION_SECTIONS = frozenset({"connections", "targets", "sources"})
_NAMED_SECTIONS = frozenset({"buses", "connections", "targets", "sources", "rules"})


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem: where (``rules[survey-responses].targets[0].retry``) and what.

    ``file``, ``line`` and ``column`` (1-based) are set when the problem was found in a
    file the loader read (``kbridge validate``), so editors and terminals can jump there;
    the management API's problems have none.
    """

    location: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def render(self, filename: str) -> str:
        """The problem as one line naming the file (and line:column), the object, the field."""
        message = _NEWLINES.sub(" ", self.message.strip())
        where = self.file or filename
        if self.line is not None:
            where = f"{where}:{self.line}:{self.column or 1}"
        if self.location:
            return f"{where}: {self.location}: {message}"
        return f"{where}: {message}"


class ConfigValidationError(ConfigError):
    """A configuration was rejected; ``problems`` lists every reason, one line each."""

    def __init__(self, filename: str, problems: Sequence[ConfigProblem]) -> None:
        self.filename = filename
        self.problems = list(problems)
        self.lines = [problem.render(filename) for problem in self.problems]
        super().__init__("\n".join(self.lines))


def format_location(loc: Sequence[int | str], raw: Any, *, union_tags: bool = True) -> str:
    """Render a pydantic ``loc`` against the raw input: list items of the top-level
    sections are named by their ``name`` (``rules[survey-responses]``), nested list items by
    index (``targets[0]``), and (with ``union_tags``, for pydantic locations) the
    discriminator tag pydantic inserts after a union member is dropped."""
    parts: list[str] = []
    node: Any = raw
    index = 0
    while index < len(loc):
        item = loc[index]
        depth = len(parts)
        if isinstance(item, int):
            element = node[item] if isinstance(node, list) and 0 <= item < len(node) else None
            label: str | int = item
            top_section = parts[0] if depth == 1 else None
            if top_section in _NAMED_SECTIONS and isinstance(element, dict):
                name = element.get("name")
                if isinstance(name, str) and name:
                    label = name
            if parts:
                parts[-1] += f"[{label}]"
            else:
                parts.append(f"[{label}]")
            if (
                union_tags
                and top_section in _UNION_SECTIONS
                and isinstance(element, dict)
                and index + 1 < len(loc)
                and loc[index + 1] == element.get("kind")
            ):
                index += 1  # the discriminator tag pydantic adds to the location
            node = element
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
        index += 1
    return ".".join(parts)


def problems_from_validation_error(
    exc: ValidationError,
    raw: Any,
    *,
    prefix: Sequence[int | str] = (),
    plain: Callable[[ErrorDetails], str] | None = None,
) -> list[ConfigProblem]:
    """One :class:`ConfigProblem` per pydantic error, located against ``raw``.

    ``plain`` rewrites each error's message (the loader passes
    :func:`processor.config.wording.plain_message`, which knows the models).
    """
    problems = []
    for error in exc.errors(include_url=False):
        loc: tuple[int | str, ...] = (*prefix, *error["loc"])
        message = str(error["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if plain is not None:
            message = plain(error)
            if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc = (*loc, "kind")
            problems.append(ConfigProblem(format_location(loc, raw), message))
            continue
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "kind")
            if error["type"] == "union_tag_not_found":
                message = "Field required (the object's kind)"
        problems.append(ConfigProblem(format_location(loc, raw), message))
    return problems
