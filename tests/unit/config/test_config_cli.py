"""``kbridge validate|apply|get|schema`` through typer's CliRunner (no broker needed here)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from processor.cli import build_app
from processor.config.schema import render_schema

runner = CliRunner()

BAD = """
buses: [{name: saas}]
targets: [{name: survey-db, kind: mysql, url: "mysql+pymysql://u:p@h/db", table: t}]
rules:
  - name: survey-responses
    bus: saas
    pattern: {source: [saas.questionnaire]}
    targets:
      - {target: survey-db, retry: {max_attempts: 186}}
      - {target: missing}
"""


def test_validate_prints_a_summary(example_file: Path) -> None:
    result = runner.invoke(build_app(), ["validate", "-f", str(example_file)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"{example_file}: valid (3 buses, 1 connections, 8 targets, 3 sources, 3 rules)"
    )
    assert "  bus monitoring: 1 rule(s)" in result.stdout


def test_validate_lists_every_problem_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "kbridge.yaml"
    path.write_text(BAD)
    result = runner.invoke(build_app(), ["validate", "-f", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:9:37: rules[survey-responses].targets[0].retry.max_attempts: "
        "must be less than or equal to 185, got 186"
    ]
    assert "Traceback" not in result.output
    path.write_text(BAD.replace("186", "10"))
    result = runner.invoke(build_app(), ["validate", "-f", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:10:10: rules[survey-responses].targets[1].target: target 'missing' is not "
        "defined (known: survey-db)"
    ]


def test_validate_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    result = runner.invoke(build_app(), ["validate", "-f", str(path)])
    assert result.exit_code == 1
    assert result.stderr == f"{path}: cannot read the file: No such file or directory\n"


def test_validate_names_missing_environment_variables(tmp_path: Path, monkeypatch: object) -> None:
    path = tmp_path / "kbridge.yaml"
    path.write_text(
        "buses: [{name: saas}]\n"
        "sources: [{name: gh, kind: github, bus: saas, secret: '${KBRIDGE_TEST_UNSET_SECRET}'}]\n"
    )
    result = runner.invoke(build_app(), ["validate", "-f", str(path)])
    assert result.exit_code == 1
    assert "sources[gh].secret: environment variable KBRIDGE_TEST_UNSET_SECRET is not set" in (
        result.stderr
    )


def test_apply_refuses_an_invalid_file_before_touching_kafka(tmp_path: Path) -> None:
    path = tmp_path / "kbridge.yaml"
    path.write_text(BAD)
    result = runner.invoke(
        build_app(), ["apply", "-f", str(path), "--bootstrap-servers", "127.0.0.1:1"]
    )
    assert result.exit_code == 1
    assert "retry.max_attempts" in result.stderr


def test_apply_reports_an_unreachable_broker_in_one_line(example_file: Path) -> None:
    result = runner.invoke(
        build_app(),
        ["apply", "-f", str(example_file), "-b", "127.0.0.1:1", "--timeout", "2"],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Kafka at 127.0.0.1:1: ")
    assert len(result.stderr.splitlines()) == 1
    result = runner.invoke(build_app(), ["get", "rules", "-b", "127.0.0.1:1", "--timeout", "2"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: could not read kbridge.rules from 127.0.0.1:1")
    assert len(result.stderr.splitlines()) == 1


def test_get_rejects_unknown_kinds() -> None:
    result = runner.invoke(build_app(), ["get", "widgets"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: cannot list 'widgets': use one of buses, connections, targets, sources, rules\n"
    )


def test_schema_prints_or_writes_the_schema(tmp_path: Path) -> None:
    result = runner.invoke(build_app(), ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "kbridge configuration (kbridge.yaml)"
    out = tmp_path / "schema.json"
    result = runner.invoke(build_app(), ["schema", "-w", str(out)])
    assert result.exit_code == 0
    assert out.read_text() == render_schema()
    # -o is the output format, as in every command
    result = runner.invoke(build_app(), ["schema", "-o", "yaml"])
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout) == json.loads(render_schema())
    result = runner.invoke(build_app(), ["schema", "-o", "toml"])
    assert result.exit_code == 1
    assert "unknown output format 'toml' (json or yaml)" in result.stderr


def test_the_installed_command_validates_the_example(example_file: Path) -> None:
    """The way users run it: a separate process, exit status and output."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "processor", "validate", "-f", str(example_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{example_file}: valid (3 buses,")
