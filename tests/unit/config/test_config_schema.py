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
