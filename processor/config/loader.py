"""Reading kbridge.yaml: YAML, environment references, validation, cross-checks.

Every failure becomes a :class:`~processor.config.problems.ConfigValidationError` whose
lines name the file, the object and the field::

    kbridge.yaml: rules[survey-responses].targets[0].retry.max_attempts: Input should be
    less than or equal to 185
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from processor.config.checks import check_config
from processor.config.envsubst import substitute
from processor.config.model import KbridgeConfig
from processor.config.problems import (
    ConfigProblem,
    ConfigValidationError,
    problems_from_validation_error,
)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and keeps timestamps as strings (JSON-able)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # ``<<: *anchor`` keys may be overridden explicitly
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"duplicate key {key!r} (first defined on line {first})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    loader.flatten_mapping(node)
    return loader.construct_mapping(node, deep=True)


def _construct_timestamp(loader: _StrictLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _yaml_problem(exc: yaml.YAMLError) -> ConfigProblem:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        return ConfigProblem(where, f"invalid YAML: {exc.problem}")
    return ConfigProblem("", f"invalid YAML: {exc}")


def parse_config(
    text: str,
    filename: str = "kbridge.yaml",
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> KbridgeConfig:
    """Parse and validate kbridge.yaml ``text`` (``filename`` is only used in messages).

    ``env`` defaults to the process environment. With ``check`` (the default) references
    between objects, patterns and transforms are checked too. Raises
    :class:`ConfigValidationError` listing every problem found.
    """
    try:
        raw = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigValidationError(filename, [_yaml_problem(exc)]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigValidationError(
            filename,
            [
                ConfigProblem(
                    "",
                    "the top level must be a mapping with buses, connections, targets, "
                    "sources and rules",
                )
            ],
        )
    data, problems = substitute(raw, os.environ if env is None else env)
    try:
        config = KbridgeConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from_validation_error(exc, data))
        raise ConfigValidationError(filename, problems) from None
    if check:
        problems.extend(check_config(config))
    if problems:
        raise ConfigValidationError(filename, problems)
    return config


def load_config(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> KbridgeConfig:
    """Read, validate and cross-check the kbridge.yaml at ``path`` (see :func:`parse_config`)."""
    filename = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigValidationError(
            filename, [ConfigProblem("", f"cannot read the file: {reason}")]
        ) from None
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        # almost always the wrong file or a failed template render, never a useful config
        raise ConfigValidationError(
            filename,
            [ConfigProblem("", "the file is empty: expected buses, targets, sources and rules "
                               "(write {} for a deliberately empty configuration)")],
        )
    return parse_config(text, filename, env=env, check=check)
