"""Configuration problems users can act on: file:line:column, plain words, suggestions,
several files merged, --env-file, and an empty configuration refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from processor.cli import build_app
from processor.config import ConfigValidationError, parse_config
from processor.config.envsubst import read_env_file
from processor.config.loader import load_configs

runner = CliRunner()


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigValidationError) as exc:
        parse_config(text, "kbridge.yaml", env={})
    return exc.value.lines


def load_problems(paths: list[Path], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigValidationError) as exc:
        load_configs(paths, env=env or {})
    return exc.value.lines


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "buses: [{name: saas, partitons: 3}]",
            "kbridge.yaml:1:22: buses[saas].partitons: unknown key 'partitons' (did you mean "
            "'partitions'? valid keys: description, max_event_bytes, name, partitions, retention, "
            "trace)",
        ),
        (
            "bus: [{name: saas}]",
            "kbridge.yaml:1:1: bus: unknown key 'bus' (did you mean 'buses'? valid keys: buses, "
            "connections, rules, sources, targets)",
        ),
        (
            "buses: [{name: b}]\ntargets: [{name: t, kind: webhok, url: 'http://x'}]",
            "kbridge.yaml:2:21: targets[t].kind: unknown kind 'webhok' (did you mean 'webhook'? "
            "kinds: mysql, webhook, function, kafka, dingtalk, wecom, feishu, slack, email)",
        ),
        (
            "buses: [{name: b}]\ntargets: [{name: t, kind: webhook, url: 'http://x', "
            "method: POTS}]",
            "kbridge.yaml:2:53: targets[t].method: expected one of POST, PUT, PATCH, GET, "
            "DELETE, got the text 'POTS' (did you mean 'POST'?)",
        ),
        (
            # the example: pydantic said "a valid dictionary or instance of RuleTarget"
            "buses: [{name: b}]\nrules: [{name: r, bus: b, pattern: {a: [1]}, targets: [t1]}]",
            "kbridge.yaml:2:56: rules[r].targets[0]: expected a mapping (key: value pairs), "
            "got the text 't1' (write {target: t1})",
        ),
        (
            "buses: [{name: b, partitions: many}]",
            "kbridge.yaml:1:19: buses[b].partitions: expected a whole number, got the text 'many'",
        ),
        (
            "buses: [{name: b, partitions: 0}]",
            "kbridge.yaml:1:19: buses[b].partitions: must be greater than or equal to 1, got 0",
        ),
        (
            "buses: [{name: b}]\ntargets: [{name: m, kind: email, host: smtp.example.com, "
            "from_addr: a@example.com, to: []}]",
            "kbridge.yaml:2:84: targets[m].to: must have at least 1 item(s), got 0",
        ),
        (
            "buses: [{name: b, description: [1]}]",
            "kbridge.yaml:1:19: buses[b].description: expected text, got a list",
        ),
        (
            "buses: [{name: b}]\nrules: [{name: r, bus: b, pattern: {a: [1]}, enabled: maybe}]",
            "kbridge.yaml:2:46: rules[r].enabled: expected true or false, got the text 'maybe'",
        ),
        (
            "buses:\n  - partitions: 3",
            "kbridge.yaml:2:5: buses[0].name: required key 'name' is missing",
        ),
        (
            "buses: [{name: b}]\nrules:\n  - {name: r, bus: b, pattern: {a: [1]},\n"
            "     targets: [{target: survey-dbx}]}\ntargets: [{name: survey-db, kind: mysql, "
            "url: 'mysql+pymysql://u:p@h/d', table: t}]",
            "kbridge.yaml:4:17: rules[r].targets[0].target: target 'survey-dbx' is not defined "
            "(did you mean 'survey-db'? known: survey-db)",
        ),
        (
            "buses: [{name: saas}]\nrules: [{name: r, bus: sass, pattern: {a: [1]}}]",
            "kbridge.yaml:2:19: rules[r].bus: bus 'sass' is not defined (did you mean 'saas'? "
            "known: saas)",
        ),
    ],
)
def test_each_message_names_file_line_and_column(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_no_pydantic_class_names_leak() -> None:
    text = """
buses: [{name: b, retention: [1]}]
targets:
  - {name: t, kind: webhook, url: 'http://x', headers: [a], timeout: soon}
rules:
  - {name: r, bus: b, pattern: [1], targets: [{target: t, retry: 3}]}
"""
    lines = problems(text)
    assert len(lines) >= 4
    for line in lines:
        assert "instance of" not in line and "Input should" not in line, line
        assert "RuleTarget" not in line and "RetryPolicy" not in line, line


TEAM_A = """
buses: [{name: saas}]
targets: [{name: hook, kind: webhook, url: "http://x"}]
rules: [{name: a-rule, bus: saas, pattern: {source: [a]}, targets: [{target: hook}]}]
"""
TEAM_B = """
rules:
  - {name: b-rule, bus: saas, pattern: {source: [b]}, targets: [{target: hook}]}
  - {name: a-rule, bus: saas, pattern: {source: [c]}, targets: [{target: hook}]}
"""


def test_several_files_merge_and_duplicates_name_both_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(TEAM_A)
    b.write_text(
        TEAM_B.replace(
            "{name: a-rule, bus: saas, pattern: {source: [c]}, targets: [{target: hook}]}",
            "{name: c-rule, bus: saas, pattern: {source: [c]}, targets: [{target: hoook}]}",
        )
    )
    with pytest.raises(ConfigValidationError) as exc:
        load_configs([a, b], env={})
    assert exc.value.lines == [
        f"{b}:4:66: rules[c-rule].targets[0].target: target 'hoook' is not defined "
        "(did you mean 'hook'? known: hook)"
    ]
    b.write_text(TEAM_B)
    assert load_problems([a, b]) == [
        f"{b}:4:6: rules[a-rule].name: duplicate rule name 'a-rule' (first defined at {a}:4:10)"
    ]
    b.write_text(TEAM_B.split("  - {name: a-rule")[0])
    config = load_configs([tmp_path], env={})  # a directory: its *.yaml in name order
    assert [rule.name for rule in config.rules] == ["a-rule", "b-rule"]


def test_a_directory_without_configuration_and_an_empty_file(tmp_path: Path) -> None:
    assert load_problems([tmp_path]) == [
        f"{tmp_path}: the directory holds no configuration files (*.yaml, *.yml)"
    ]
    empty = tmp_path / "kbridge.yaml"
    empty.write_text("# nothing yet\n")
    assert load_problems([empty]) == [
        f"{empty}: the file is empty: expected buses, targets, sources and rules (write {{}} "
        "for a deliberately empty configuration)"
    ]


def test_env_file(tmp_path: Path) -> None:
    env = tmp_path / "dev.env"
    env.write_text("# dev settings\nexport HOOK_URL=http://hooks.example.com/in\nTEAM='ops'\n")
    assert read_env_file(str(env)) == (
        {"HOOK_URL": "http://hooks.example.com/in", "TEAM": "ops"},
        [],
    )
    config = tmp_path / "kbridge.yaml"
    config.write_text(
        'buses: [{name: b, description: "${TEAM}"}]\n'
        'targets: [{name: t, kind: webhook, url: "${HOOK_URL}"}]\n'
    )
    result = runner.invoke(build_app(), ["validate", "-f", str(config), "--env-file", str(env)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(build_app(), ["validate", "-f", str(config)])
    assert result.exit_code == 1
    assert f"{config}:2:36: targets[t].url: environment variable HOOK_URL is not set" in (
        result.stderr
    )
    assert "must be an http" not in result.stderr  # the empty text left is not a 2nd problem
    env.write_text("HOOK_URL=http://x\nthis is not an assignment\n")
    result = runner.invoke(build_app(), ["validate", "-f", str(config), "--env-file", str(env)])
    assert result.exit_code == 1
    assert result.stderr == (f"{env}:2:1: expected KEY=value (a variable name, '=', its value)\n")


def test_validate_merges_several_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(TEAM_A)
    b.write_text(TEAM_B.split("  - {name: a-rule")[0])
    result = runner.invoke(build_app(), ["validate", "-f", str(a), "-f", str(b)])
    assert result.exit_code == 0, result.output
    assert "valid (3 buses" not in result.stdout
    assert f"{a}, {b}: valid (1 buses, 0 connections, 1 targets, 0 sources, 2 rules)" in (
        result.stdout
    )
