"""The JSON Schema of kbridge.yaml, for editors (YAML language servers) and CI checks.

Generated from the pydantic models, never written by hand; the committed copy in
``schemas/kbridge-config.schema.json`` is checked to be current by a unit test.
Regenerate with ``kbridge schema -w schemas/kbridge-config.schema.json``.
"""

from __future__ import annotations

import json
from typing import Any

from processor.config.model import KbridgeConfig
from processor.resources import schema_file

SCHEMA_PATH = schema_file("kbridge-config.schema.json")
"""Where the committed schema lives in a source checkout."""


def _one_line(node: Any) -> None:
    """Field docstrings wrap over lines in the source; editors show one paragraph."""
    if isinstance(node, dict):
        text = node.get("description")
        if isinstance(text, str):
            node["description"] = " ".join(text.split()).replace("``", "`")
        for value in node.values():
            _one_line(value)
    elif isinstance(node, list):
        for value in node:
            _one_line(value)


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a kbridge.yaml file.

    Descriptions are the models' field docstrings; enum values come from ``Literal`` types.
    """
    schema = KbridgeConfig.model_json_schema(mode="validation")
    _one_line(schema)
    schema["title"] = "kbridge configuration (kbridge.yaml)"
    schema["description"] = (
        "Buses, connections, targets, sources and rules of a kbridge deployment. "
        "String values may reference environment variables as ${VAR} or ${VAR:-default}."
    )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def render_schema() -> str:
    """The schema as the committed file's text (stable key order, trailing newline)."""
    return json.dumps(config_json_schema(), indent=2, ensure_ascii=False) + "\n"
