"""The committed JSON Schema is current, and it accepts what the models accept."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from processor.config.schema import SCHEMA_PATH, config_json_schema, render_schema


def test_committed_schema_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "schemas/kbridge-config.schema.json is stale: run "
        "`kbridge schema -w schemas/kbridge-config.schema.json`"
    )


def test_example_validates_against_the_schema(example_file: Path) -> None:
    schema = config_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    example = yaml.safe_load(example_file.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(example)


def test_schema_rejects_unknown_keys_and_bad_durations() -> None:
    validator = jsonschema.Draft202012Validator(config_json_schema())
    assert not validator.is_valid({"buses": [{"name": "b", "partitionz": 3}]})
    assert not validator.is_valid({"buses": [{"name": "b", "retention": "a week"}]})
    assert validator.is_valid({"buses": [{"name": "b", "retention": "7d"}]})
    assert validator.is_valid({"buses": [{"name": "b", "retention": 3600}]})


def _properties(node: object, where: str = "") -> list[tuple[str, dict[str, object]]]:
    """Every (path, property schema) in the schema, recursively."""
    found: list[tuple[str, dict[str, object]]] = []
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            found.extend((f"{where}.{name}", value) for name, value in props.items())
        for key, value in node.items():
            found.extend(_properties(value, f"{where}/{key}" if key != "properties" else where))
    elif isinstance(node, list):
        for value in node:
            found.extend(_properties(value, where))
    return found


def test_every_property_has_a_description() -> None:
    """Editors (yaml-language-server) show these on hover: one place, the models' docstrings."""
    properties = _properties(config_json_schema())
    assert len(properties) > 250
    missing = [path for path, schema in properties if not schema.get("description")]
    assert missing == []
    for path, schema in properties:
        text = str(schema["description"])
        assert "\n" not in text and "``" not in text, path


def test_choices_and_examples_reach_the_editor() -> None:
    schema = config_json_schema()
    webhook = schema["$defs"]["WebhookTarget"]["properties"]
    assert webhook["method"]["enum"] == ["POST", "PUT", "PATCH", "GET", "DELETE"]
    assert webhook["body"]["enum"] == ["binary", "structured", "raw"]
    assert "7d" in schema["$defs"]["Bus"]["properties"]["retention"]["examples"]
    assert schema["$defs"]["Rule"]["properties"]["pattern"]["examples"]


def test_kbridge_schema_prints_descriptions_in_yaml() -> None:
    from typer.testing import CliRunner

    from processor.cli import build_app

    result = CliRunner().invoke(build_app(), ["schema", "-o", "yaml"])
    assert result.exit_code == 0
    printed = yaml.safe_load(result.stdout)
    assert printed["$defs"]["Bus"]["properties"]["partitions"]["description"].startswith(
        "Partitions of the ingress topic"
    )
