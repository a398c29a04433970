"""YAML as the renderers write it: keys in the order given, block style, ``|`` for text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key (kubectl's style); multi-line strings as ``|`` blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: object) -> bool:
        """Manifests repeat small structures (labels, security contexts): write them out."""
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(data: Any) -> str:
    """One YAML document."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def dump_all(docs: Iterable[Any], header: str = "") -> str:
    """Several documents separated by ``---``, after an optional ``#`` comment header."""
    body = "---\n".join(dump(d) for d in docs)
    return header + body
