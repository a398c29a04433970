"""``kbridge explain``: the fields of a kbridge.yaml object, from the models' own descriptions.

The help a terminal shows comes from the same place as the editor's hover text and the
reference in docs/configuration.md: the field docstrings, via the JSON Schema. A path names
a section, a kind and a field (``targets.webhook.method``, ``rules.targets.retry``).
"""

from __future__ import annotations

import json
from typing import Any

from processor.config.schema import config_json_schema
from processor.config.wording import suggest
from processor.errors import ConfigError


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with ``$ref``, list ``items`` and ``X | None`` unwrapped."""
    while True:
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
        elif node.get("type") == "array" and isinstance(node.get("items"), dict):
            node = node["items"]
        elif "anyOf" in node:
            options = [o for o in node["anyOf"] if o.get("type") != "null"]
            if len(options) != 1:
                return node
            node = options[0]
        else:
            return node


def _kinds(node: dict[str, Any]) -> dict[str, str]:
    mapping = node.get("discriminator", {}).get("mapping", {})
    return {kind: ref.rsplit("/", 1)[1] for kind, ref in mapping.items()}


def explain(path: str = "") -> list[str]:
    """Lines describing the object or field at ``path`` (the top level when empty)."""
    schema = config_json_schema()
    node: dict[str, Any] = schema
    walked: list[str] = []
    for part in [p for p in path.split(".") if p]:
        node = _resolve(schema, node)
        kinds = _kinds(node)
        if kinds:
            if part not in kinds:
                hint = suggest(part, kinds)
                where = ".".join(walked)
                raise ConfigError(f"{where}: no kind {part!r} ({hint}kinds: {', '.join(kinds)})")
            node = schema["$defs"][kinds[part]]
        else:
            fields = node.get("properties", {})
            if part not in fields:
                where = ".".join(walked) or "the top level"
                hint = suggest(part, fields)
                raise ConfigError(
                    f"{where}: no field {part!r} ({hint}fields: {', '.join(fields) or 'none'})"
                )
            node = fields[part]
        walked.append(part)
    return _describe(schema, node, ".".join(walked) or "kbridge.yaml")


def _describe(schema: dict[str, Any], field: dict[str, Any], name: str) -> list[str]:
    lines = [name]
    if field.get("description"):
        lines.append(f"  {field['description']}")
    facts = [
        f"{label}: {json.dumps(field[key], ensure_ascii=False)}"
        for key, label in (("default", "default"), ("examples", "examples"))
        if key in field
    ]
    target = _resolve(schema, field)
    if "enum" in target:
        facts.append("one of: " + ", ".join(map(str, target["enum"])))
    elif "const" in target:
        facts.append(f"always: {target['const']}")
    lines.extend(f"  {fact}" for fact in facts)
    kinds = _kinds(target)
    if kinds:
        lines.append(f"  kinds: {', '.join(kinds)} (explain {name}.<kind>)")
    elif "properties" in target:
        if target is not field and target.get("description"):
            lines.append(f"  {target['description']}")
        required = set(target.get("required", ()))
        lines.append("  fields:")
        for key, sub in target["properties"].items():
            mark = " (required)" if key in required else ""
            lines.append(f"    {key}{mark}: {sub.get('description', '')}")
    return lines
