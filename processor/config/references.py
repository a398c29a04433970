"""Run-time secret references: ``${env:VAR}`` and ``${file:/path}`` in kbridge.yaml values.

``${VAR}`` (:mod:`processor.config.envsubst`) is replaced when the file is loaded, so by the
time ``kbridge apply`` publishes the configuration the secret is in the ``kbridge.rules``
topic in clear text. A *run-time reference* is not touched at load or apply time: the topic
stores the reference itself, and each process that opens the connection (a sink worker
building its sink, a source runner building its source) resolves it from its own
environment or from a mounted file — a Kubernetes Secret mounted as a volume or exposed as
an environment variable. The secret then never enters Kafka, logs or API answers (they show
the reference).

Resolution happens on a model's string values (``SecretStr`` included) and the model is
validated again afterwards, so a resolved URL still passes the field's own checks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from processor.errors import ConfigError

REFERENCE = re.compile(r"\$\{(env|file):([^}]+)\}")
"""``${env:NAME}`` or ``${file:/path/to/secret}``; ``$${...}`` escapes a literal one."""

ReadFile = Callable[[str], str]

M = TypeVar("M", bound=BaseModel)


def _read_secret_file(path: str) -> str:
    """A mounted secret's content without the trailing newline editors and ``echo`` add."""
    return Path(path).read_text(encoding="utf-8").rstrip("\r\n")


def has_references(text: str) -> bool:
    """Whether ``text`` holds at least one run-time reference."""
    return "${" in text and REFERENCE.search(text) is not None


def resolve_text(
    text: str,
    *,
    where: str,
    env: Mapping[str, str] | None = None,
    read_file: ReadFile = _read_secret_file,
) -> str:
    """``text`` with each run-time reference replaced; a missing one is a ConfigError
    naming the field (``where``) and the reference, never the value."""
    if "${" not in text:
        return text
    environ = os.environ if env is None else env

    def replace(match: re.Match[str]) -> str:
        start = match.start()
        if start > 0 and text[start - 1] == "$":
            return match.group(0)  # ``$${env:X}``: the escape is removed below
        kind, name = match.group(1), match.group(2).strip()
        if kind == "env":
            value = environ.get(name)
            if value is None:
                raise ConfigError(
                    f"{where}: environment variable {name} (referenced as ${{env:{name}}}) "
                    "is not set in this process"
                )
            return value
        try:
            return read_file(name)
        except OSError as exc:
            raise ConfigError(
                f"{where}: cannot read the secret file {name} "
                f"(referenced as ${{file:{name}}}): {exc.strerror or exc}"
            ) from None

    resolved = REFERENCE.sub(replace, text)
    return resolved.replace("$${", "${")


def resolve_model(
    model: M,
    *,
    env: Mapping[str, str] | None = None,
    read_file: ReadFile = _read_secret_file,
) -> M:
    """``model`` with every run-time reference in its values resolved (the same object when
    it holds none, so the common case costs one walk and no validation)."""
    data = model.model_dump(mode="python", by_alias=True, round_trip=True)
    found = False
    label = getattr(model, "name", None) or type(model).__name__

    def walk(node: Any, path: str) -> Any:
        nonlocal found
        if isinstance(node, SecretStr):
            secret = node.get_secret_value()
            if has_references(secret):
                found = True
                return resolve_text(secret, where=path, env=env, read_file=read_file)
            return node
        if isinstance(node, str):
            if has_references(node):
                found = True
                return resolve_text(node, where=path, env=env, read_file=read_file)
            return node
        if isinstance(node, dict):
            return {key: walk(value, f"{path}.{key}") for key, value in node.items()}
        if isinstance(node, list | tuple):
            return [walk(value, f"{path}[{index}]") for index, value in enumerate(node)]
        return node

    resolved = walk(data, str(label))
    if not found:
        return model
    try:
        return type(model).model_validate(resolved)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ()))
        raise ConfigError(
            f"{label}.{field}: the value a run-time reference resolved to is not valid: "
            f"{first.get('msg', 'invalid value')}"
        ) from None
