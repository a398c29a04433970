"""kbridge.yaml loading: YAML, ${ENV} references, and messages naming file/object/field."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.config import ConfigValidationError, load_config, parse_config
from processor.errors import ConfigError

MINIMAL = """
buses: [{name: saas}]
targets:
  - {name: survey-db, kind: mysql, url: "mysql+pymysql://u:p@h/db", table: survey}
rules:
  - name: survey-responses
    bus: saas
    pattern: {source: [saas.questionnaire]}
    targets:
      - target: survey-db
        transform: {path: "$.data"}
        retry: {max_attempts: 185, max_age: 24h}
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigValidationError) as exc:
        parse_config(text, "kbridge.yaml", env=env or {})
    return exc.value.lines


def test_minimal_config() -> None:
    config = parse_config(MINIMAL, env={})
    rule = config.rules[0]
    assert rule.targets[0].retry.max_age == 86400.0
    assert config.target("survey-db").table == "survey"  # type: ignore[union-attr]


def test_the_example_file_is_valid(example_file: Path) -> None:
    config = load_config(example_file, env={})
    assert config.counts() == {
        "buses": 3,
        "connections": 1,
        "targets": 8,
        "sources": 3,
        "rules": 3,
    }
    alarm = config.rule("critical-production-alarms")
    assert alarm is not None
    assert alarm.target_names() == [
        "ops-dingtalk",
        "ops-wecom",
        "ops-feishu",
        "ops-slack",
        "ops-email",
    ]
    # YAML merge keys (<<: *anchor) carry the transform to every IM target.
    assert len({str(entry.transform) for entry in alarm.targets}) == 1


def test_error_names_file_object_and_field() -> None:
    text = MINIMAL.replace("max_attempts: 185", "max_attempts: 186")
    assert problems(text) == [
        "kbridge.yaml:12:17: rules[survey-responses].targets[0].retry.max_attempts: "
        "must be less than or equal to 185, got 186"
    ]


def test_every_problem_is_listed_at_once() -> None:
    text = """
buses: [{name: saas, partitions: 0}]
targets:
  - {name: hook, kind: webhook, url: "http://x", timeout: -1, bogus: 1}
  - {name: fn, kind: function}
  - {name: nope, kind: carrier-pigeon}
  - {name: nokind}
  - "not a mapping"
rules:
  - {name: r, bus: saas, pattern: {}, targets: [{target: hook, retry: {max_age: 2d}}]}
surprise: 1
"""
    assert problems(text) == [
        "kbridge.yaml:2:22: buses[saas].partitions: must be greater than or equal to 1, got 0",
        "kbridge.yaml:4:50: targets[hook].timeout: must be greater than 0, got -1",
        "kbridge.yaml:4:63: targets[hook].bogus: unknown key 'bogus' (valid keys: "
        "allow_private_network, body, concurrency, connection, description, format, headers, "
        "kind, method, name, partitions, rate_limit, secret, timeout, url)",
        "kbridge.yaml:5:5: targets[fn]: set exactly one of url and entry_point",
        "kbridge.yaml:6:18: targets[nope].kind: unknown kind 'carrier-pigeon' (kinds: mysql, "
        "webhook, function, kafka, dingtalk, wecom, feishu, slack, email)",
        "kbridge.yaml:7:5: targets[nokind].kind: required key 'kind' is missing (kinds: "
        "dingtalk, email, feishu, function, kafka, mysql, slack, webhook, wecom)",
        "kbridge.yaml:8:5: targets[4]: expected a mapping (key: value pairs), got the text "
        "'not a mapping'",
        "kbridge.yaml:10:72: rules[r].targets[0].retry.max_age: must be less than or equal "
        "to 86400, got '2d'",
        "kbridge.yaml:11:1: surprise: unknown key 'surprise' (valid keys: buses, connections, "
        "rules, sources, targets)",
    ]


def test_the_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_config("buses: [{name: 'a b'}]", env={})


def test_unnamed_objects_are_named_by_index() -> None:
    assert problems("buses: [{partitions: 3}]") == [
        "kbridge.yaml:1:9: buses[0].name: required key 'name' is missing"
    ]


class TestEnvironment:
    def test_references_are_replaced(self) -> None:
        text = """
buses: [{name: saas, partitions: "${PARTS}"}]
targets:
  - name: db
    kind: mysql
    url: "mysql+pymysql://kbridge:${DB_PASSWORD}@${DB_HOST:-127.0.0.1}:3306/kb"
    table: t
"""
        config = parse_config(text, env={"PARTS": "12", "DB_PASSWORD": "p#ss: 'x'"})
        assert config.buses[0].partitions == 12
        assert config.targets[0].url == (  # type: ignore[union-attr]
            "mysql+pymysql://kbridge:p#ss: 'x'@127.0.0.1:3306/kb"
        )

    def test_default_applies_when_unset_or_empty(self) -> None:
        text = 'buses: [{name: saas, description: "${DESC:-fallback}"}]'
        assert parse_config(text, env={}).buses[0].description == "fallback"
        assert parse_config(text, env={"DESC": ""}).buses[0].description == "fallback"
        assert parse_config(text, env={"DESC": "set"}).buses[0].description == "set"

    def test_double_dollar_escapes(self) -> None:
        text = 'buses: [{name: saas, description: "write $${PRICE} for ${PRICE}; pa$$word"}]'
        config = parse_config(text, env={"PRICE": "5"})
        assert config.buses[0].description == "write ${PRICE} for 5; pa$$word"

    def test_a_missing_variable_names_itself_the_file_and_the_field(self) -> None:
        text = """
buses: [{name: saas}]
sources:
  - {name: gh, kind: github, bus: saas, secret: "${GITHUB_SECRET}"}
  - {name: st, kind: stripe, bus: saas, secret: "${STRIPE_SECRET}"}
"""
        assert problems(text) == [
            "kbridge.yaml:4:41: sources[gh].secret: environment variable GITHUB_SECRET is not "
            "set (use ${GITHUB_SECRET:-default} for a default)",
            "kbridge.yaml:5:41: sources[st].secret: environment variable STRIPE_SECRET is not set "
            "(use ${STRIPE_SECRET:-default} for a default)",
        ]

    def test_the_process_environment_is_the_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("KBRIDGE_TEST_BUS_DESCRIPTION", "from the environment")
        text = 'buses: [{name: saas, description: "${KBRIDGE_TEST_BUS_DESCRIPTION}"}]'
        assert parse_config(text).buses[0].description == "from the environment"


class TestYaml:
    def test_syntax_errors_name_line_and_column(self) -> None:
        [line] = problems("buses:\n  - name: saas\n   partitions: 3\n")
        assert line.startswith("kbridge.yaml:3:4: invalid YAML: ")

    def test_duplicate_keys_are_errors(self) -> None:
        [line] = problems("buses:\n  - name: a\n    name: b\n")
        assert line == (
            "kbridge.yaml:3:5: invalid YAML: duplicate key 'name' (first defined on line 2)"
        )

    def test_the_top_level_must_be_a_mapping(self) -> None:
        assert problems("- name: saas") == [
            "kbridge.yaml:1:1: the top level must be a mapping with buses, connections, targets, "
            "sources and rules"
        ]

    def test_an_empty_file_is_an_empty_config(self) -> None:
        assert parse_config("", env={}).counts()["rules"] == 0

    def test_timestamps_stay_strings(self) -> None:
        text = """
buses: [{name: b}]
targets: [{name: t, kind: webhook, url: "http://x"}]
rules: [{name: r, bus: b, pattern: {time: [2024-01-01]}, targets: [{target: t}]}]
"""
        assert parse_config(text, env={}).rules[0].pattern == {"time": ["2024-01-01"]}

    def test_unreadable_file(self, tmp_path: Path) -> None:
        missing = tmp_path / "missing.yaml"
        with pytest.raises(ConfigValidationError) as exc:
            load_config(missing)
        assert exc.value.lines == [f"{missing}: cannot read the file: No such file or directory"]


class TestCrossChecks:
    def test_references_must_be_defined(self) -> None:
        text = """
buses: [{name: saas}]
targets:
  - {name: hook, kind: webhook, url: "http://x", connection: creds}
  - {name: fn, kind: function, entry_point: agg, publish_to_bus: results}
sources:
  - {name: gh, kind: github, bus: github-bus, secret: s}
rules:
  - name: r
    bus: other
    pattern: {source: [a]}
    targets: [{target: hook}, {target: survey-dbx}]
"""
        assert problems(text) == [
            "kbridge.yaml:10:5: rules[r].bus: bus 'other' is not defined (known: saas)",
            "kbridge.yaml:12:32: rules[r].targets[1].target: target 'survey-dbx' is not defined "
            "(known: fn, hook)",
            "kbridge.yaml:4:50: targets[hook].connection: connection 'creds' is not defined "
            "(none are defined)",
            "kbridge.yaml:5:50: targets[fn].publish_to_bus: bus 'results' is not defined "
            "(known: saas)",
            "kbridge.yaml:7:30: sources[gh].bus: bus 'github-bus' is not defined (known: saas)",
        ]

    def test_names_are_unique_per_kind(self) -> None:
        text = """
buses: [{name: saas}, {name: saas}]
targets: [{name: saas, kind: webhook, url: "http://x"}]
"""
        assert problems(text) == [
            "kbridge.yaml:2:24: buses[saas].name: duplicate bus name 'saas' "
            "(first defined at kbridge.yaml:2:10)"
        ]

    def test_patterns_compile_with_aws_wording(self) -> None:
        text = MINIMAL.replace("pattern: {source: [saas.questionnaire]}", "pattern: {source: x}")
        [line] = problems(text)
        assert line.startswith(
            "kbridge.yaml:8:5: rules[survey-responses].pattern: Event pattern is not valid. Reason:"
        )
        assert "\n" not in line

    def test_transforms_compile(self) -> None:
        text = MINIMAL.replace('transform: {path: "$.data"}', "transform: {path: data}")
        [line] = problems(text)
        assert line.startswith(
            "kbridge.yaml:11:9: rules[survey-responses].targets[0].transform: path: JSONPath 'data'"
        )

    def test_checks_can_be_skipped(self) -> None:
        text = MINIMAL.replace("bus: saas\n    pattern", "bus: nowhere\n    pattern")
        assert parse_config(text, env={}, check=False).rules[0].bus == "nowhere"
