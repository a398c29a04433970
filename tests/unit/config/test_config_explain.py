"""``kbridge explain``: terminal help from the same field docstrings as the schema and docs."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from processor.cli import build_app
from processor.config.explain import explain
from processor.config.targets import WebhookTarget
from processor.errors import ConfigError

runner = CliRunner()


def test_a_field_shows_its_docstring_choices_and_default() -> None:
    lines = explain("targets.webhook.method")
    assert lines[0] == "targets.webhook.method"
    assert lines[1] == f"  {WebhookTarget.model_fields['method'].description}"
    assert '  default: "POST"' in lines
    assert "  one of: POST, PUT, PATCH, GET, DELETE" in lines


def test_an_object_lists_its_fields_and_a_union_its_kinds() -> None:
    lines = explain("rules.targets")
    assert "    target (required): Name of a target in `targets`." in lines
    assert any(line.startswith("    retry: ") for line in lines)
    [kinds] = [line for line in explain("targets") if "kinds:" in line]
    assert "webhook" in kinds and "mysql" in kinds
    assert any('examples: ["7d", "24h", 3600]' in line for line in explain("buses.retention"))


def test_typos_get_the_nearest_name() -> None:
    with pytest.raises(
        ConfigError, match=r"buses: no field 'partitons' \(did you mean 'partitions'"
    ):
        explain("buses.partitons")
    with pytest.raises(ConfigError, match=r"targets: no kind 'webhok' \(did you mean 'webhook'"):
        explain("targets.webhok")


def test_cli() -> None:
    result = runner.invoke(build_app(), ["explain", "connections.api_key.header"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:2] == [
        "connections.api_key.header",
        "  Header carrying the key.",
    ]
    result = runner.invoke(build_app(), ["explain", "rule"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the top level: no field 'rule' (did you mean 'rules'?")
