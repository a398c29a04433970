"""Reading kbridge.yaml: YAML, environment references, validation, cross-checks.

Every failure becomes a :class:`~processor.config.problems.ConfigValidationError` whose
lines name the file, line and column, the object and the field, in plain words::

    kbridge.yaml:14:9: rules[survey-responses].targets[0].retry.max_attempts: must be
    less than or equal to 185, got 186

The YAML node tree is kept beside the parsed data, so every problem found later (by
pydantic or by the cross-checks, which only know ``rules[name].field``) is mapped back to
the line it came from. Several files (or a directory of them) merge into one
configuration, as per-team rule files do; a name defined twice is reported with both places.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from processor.config.checks import check_config
from processor.config.envsubst import substitute
from processor.config.model import SECTIONS, KbridgeConfig
from processor.config.problems import (
    ConfigProblem,
    ConfigValidationError,
    problems_from_validation_error,
)
from processor.config.wording import plain_message

Place = tuple[str, int, int]
"""(file, line, column), 1-based."""
Path_ = tuple[int | str, ...]
_TOKEN = re.compile(r"\[([^\]]*)\]|([^.\[]+)")
CONFIG_SUFFIXES = (".yaml", ".yml")
TEST_SUFFIX = ".kbridge-test.yaml"


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """SafeLoader (libyaml's parser when installed: ~5x faster) that rejects duplicate keys
    and keeps timestamps as strings (JSON-able)."""


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
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=True)
    return mapping


def _construct_timestamp(loader: _StrictLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _yaml_problem(exc: yaml.YAMLError, filename: str) -> ConfigProblem:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return ConfigProblem(
            "", f"invalid YAML: {exc.problem}", filename, mark.line + 1, mark.column + 1
        )
    return ConfigProblem("", f"invalid YAML: {exc}", filename)


def _positions(node: yaml.Node, path: Path_, filename: str, out: dict[Path_, Place]) -> None:
    """Where each key (and list item) of the document starts: mapping entries point at
    their key (a misspelt key is what the author must find), list items at the item."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            child = (*path, key_node.value)
            mark = key_node.start_mark
            out.setdefault(child, (filename, mark.line + 1, mark.column + 1))
            _positions(value_node, child, filename, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            mark = item.start_mark
            out.setdefault(child, (filename, mark.line + 1, mark.column + 1))
            _positions(item, child, filename, out)


@dataclass
class _Document:
    """One parsed file: its data (after ``${VAR}`` substitution) and where each part was."""

    filename: str
    data: Any
    positions: dict[Path_, Place] = field(default_factory=dict)


def read_yaml(
    text: str, filename: str, *, with_positions: bool = True
) -> tuple[Any, dict[Path_, Place]]:
    """The YAML document in ``text`` and where each key and list item of it starts (an
    empty mapping without ``with_positions``: a large file read again only when it has a
    problem to place).

    Duplicate keys are errors; raises :class:`ConfigValidationError` naming the line.
    """
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        raw = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigValidationError(filename, [_yaml_problem(exc, filename)]) from None
    finally:
        loader.dispose()
    positions: dict[Path_, Place] = {}
    if node is not None and with_positions:
        positions[()] = (filename, node.start_mark.line + 1, node.start_mark.column + 1)
        _positions(node, (), filename, positions)
    return raw, positions


def _parse(
    text: str, filename: str, env: Mapping[str, str]
) -> tuple[_Document, list[ConfigProblem]]:
    raw, positions = read_yaml(text, filename)
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
                    filename,
                    *positions.get((), (filename, 1, 1))[1:],
                )
            ],
        )
    data, problems = substitute(raw, env)
    document = _Document(filename, data, positions)
    return document, [placed(p, document.data, positions) for p in problems]


def locate(location: str, data: Any, positions: Mapping[Path_, Place]) -> Place | None:
    """The place of ``location`` (``rules[name].targets[0].retry``, as problems name
    them) in the document: the deepest part of it that exists."""
    node = data
    path: Path_ = ()
    best = positions.get(())
    for bracket, key in _TOKEN.findall(location):
        if bracket or (not key and bracket == ""):
            if not isinstance(node, list):
                break
            index: int | None = None
            if bracket.isdigit() and int(bracket) < len(node):
                index = int(bracket)
            else:
                index = next(
                    (
                        i
                        for i, item in enumerate(node)
                        if isinstance(item, dict) and item.get("name") == bracket
                    ),
                    None,
                )
            if index is None:
                break
            path = (*path, index)
            node = node[index]
        else:
            if not isinstance(node, dict) or key not in node:
                break
            path = (*path, key)
            node = node[key]
        best = positions.get(path, best)
    return best


def placed(problem: ConfigProblem, data: Any, positions: Mapping[Path_, Place]) -> ConfigProblem:
    """``problem`` with the file, line and column of its location (see :func:`locate`)."""
    if problem.line is not None:
        return problem
    place = locate(problem.location, data, positions)
    if place is None:
        return problem
    return ConfigProblem(problem.location, problem.message, *place)


def _merge(
    documents: Sequence[_Document],
) -> tuple[dict[str, Any], dict[Path_, Place], list[ConfigProblem]]:
    """One configuration from several files: each section's lists concatenated, positions
    renumbered, a name defined twice reported at its second place naming the first."""
    merged: dict[str, Any] = {}
    positions: dict[Path_, Place] = {}
    problems: list[ConfigProblem] = []
    for document in documents:
        for key, value in document.data.items():
            offset = len(merged[key]) if isinstance(merged.get(key), list) else 0
            if key in SECTIONS.values() and (value is None or isinstance(value, list)):
                merged.setdefault(key, [])
                if isinstance(merged[key], list):
                    merged[key].extend(value or [])
            elif key not in merged:
                merged[key] = value
                offset = 0
            else:
                place = document.positions.get((key,))
                problems.append(
                    ConfigProblem(
                        key,
                        "defined in several files; only a list merges",
                        *(place or (document.filename,)),
                    )
                )
                continue
            for path, place in document.positions.items():
                if not path or path[0] != key:
                    continue
                if len(path) >= 2 and isinstance(path[1], int):
                    positions.setdefault((key, path[1] + offset, *path[2:]), place)
                else:
                    positions.setdefault(path, place)
    for section in SECTIONS.values():
        items = merged.get(section)
        if not isinstance(items, list):
            continue
        first: dict[str, Place | None] = {}
        kind = next(k for k, v in SECTIONS.items() if v == section)
        for index, item in enumerate(items):
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                continue
            if name in first:
                before = first[name]
                where = f"{before[0]}:{before[1]}:{before[2]}" if before else "above"
                place = positions.get((section, index, "name"))
                problems.append(
                    ConfigProblem(
                        f"{section}[{name}].name",
                        f"duplicate {kind} name {name!r} (first defined at {where})",
                        *(place or ("",)),
                    )
                )
            else:
                first[name] = positions.get((section, index, "name"))
    return merged, positions, problems


def _validate(
    documents: Sequence[_Document], problems: list[ConfigProblem], label: str, check: bool
) -> KbridgeConfig:
    data, positions, merge_problems = _merge(documents)
    problems.extend(merge_problems)
    try:
        config = KbridgeConfig.model_validate(data)
    except ValidationError as exc:
        found = problems_from_validation_error(
            exc, data, plain=lambda error: plain_message(error, KbridgeConfig, data)
        )
        # an unset ${VAR} was already reported; the empty text it left is no second problem
        reported = {(p.file, p.location) for p in problems}
        problems.extend(
            placed(p, data, positions)
            for p in found
            if ((locate(p.location, data, positions) or ("",))[0], p.location) not in reported
        )
        raise ConfigValidationError(label, problems) from None
    if check:
        found = check_config(config, duplicates=False)
        problems.extend(placed(p, data, positions) for p in found)
    if problems:
        raise ConfigValidationError(label, problems)
    return config


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
    :class:`ConfigValidationError` listing every problem found, each with its line.
    """
    document, problems = _parse(text, filename, os.environ if env is None else env)
    return _validate([document], problems, filename, check)


def _read(path: Path) -> str:
    filename = os.fspath(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigValidationError(
            filename, [ConfigProblem("", f"cannot read the file: {reason}", filename)]
        ) from None
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        # almost always the wrong file or a failed template render, never a useful config
        raise ConfigValidationError(
            filename,
            [
                ConfigProblem(
                    "",
                    "the file is empty: expected buses, targets, sources and rules "
                    "(write {} for a deliberately empty configuration)",
                    filename,
                )
            ],
        )
    return text


def config_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The files ``paths`` name: files as given, directories as their ``*.yaml``/``*.yml``
    files in name order (test files ``*.kbridge-test.yaml`` excluded)."""
    files: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file() and p.suffix in CONFIG_SUFFIXES and not p.name.endswith(TEST_SUFFIX)
            )
            if not found:
                raise ConfigValidationError(
                    os.fspath(path),
                    [
                        ConfigProblem(
                            "", "the directory holds no configuration files (*.yaml, *.yml)"
                        )
                    ],
                )
            files.extend(found)
        else:
            files.append(path)
    if not files:
        raise ConfigValidationError(
            "kbridge.yaml", [ConfigProblem("", "no configuration file given")]
        )
    return files


def load_configs(
    paths: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> KbridgeConfig:
    """Read, merge, validate and cross-check the files (or directories) ``paths``.

    Sections concatenate across files; every problem names its own file and line.
    """
    environment = os.environ if env is None else env
    files = config_files(paths)
    label = os.fspath(files[0]) if len(files) == 1 else ", ".join(map(os.fspath, files))
    documents: list[_Document] = []
    problems: list[ConfigProblem] = []
    for path in files:
        try:
            document, found = _parse(_read(path), os.fspath(path), environment)
        except ConfigValidationError as exc:
            problems.extend(exc.problems)
            continue
        documents.append(document)
        problems.extend(found)
    if len(documents) < len(files):
        raise ConfigValidationError(label, problems)
    return _validate(documents, problems, label, check)


def load_config(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> KbridgeConfig:
    """Read, validate and cross-check the kbridge.yaml at ``path`` (see :func:`load_configs`)."""
    return load_configs([path], env=env, check=check)
