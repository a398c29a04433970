"""Rows of ``kbridge get`` tables: masked secrets, human durations, dangling references."""

from __future__ import annotations

from pathlib import Path

from processor.config import KbridgeConfig, load_config, parse_config
from processor.config.tables import rows


def test_rows_of_each_kind(example_file: Path) -> None:
    config = load_config(example_file, env={})
    assert rows("bus", config)[0] == ("saas", "6", "1w", "262144", "Events from SaaS webhooks")
    targets = {row[0]: row for row in rows("target", config)}
    assert targets["survey-db"][1:4] == ("mysql", "3", "binary")
    assert targets["survey-db"][4] == (
        "mysql+pymysql://kbridge:***@127.0.0.1:3306/kbridge table=survey_responses"
    )
    assert targets["ops-dingtalk"][4] == "http://127.0.0.1:18080/dingtalk/robot/send"
    assert targets["survey-aggregate"][4] == "entry point survey-aggregate"
    sources = {row[0]: row for row in rows("source", config)}
    assert sources["kms-audit-feed"] == (
        "kms-audit-feed",
        "kafka",
        "kms",
        "127.0.0.1:9092 kms.audit",
    )
    assert rows("connection", config) == [("functions-api-key", "api_key", "")]
    rule = rows("rule", config)[0]
    assert rule[:4] == ("survey-responses", "saas", "yes", "survey-aggregate, survey-db")
    assert rule[5] == "ok"


def test_rules_with_dangling_references_are_flagged() -> None:
    config = parse_config(
        "rules: [{name: r, bus: saas, pattern: {source: [a]}, targets: [{target: t}]}]",
        env={},
        check=False,
    )
    assert rows("rule", config)[0][5] == (
        "bus 'saas' is not defined (none are defined); target 't' is not defined (none are defined)"
    )


def test_long_patterns_are_shortened() -> None:
    config = parse_config(
        "rules: [{name: r, bus: b, pattern: {source: [" + ", ".join(["x" * 10] * 10) + "]}}]",
        env={},
        check=False,
    )
    pattern = rows("rule", config)[0][4]
    assert len(pattern) == 60 and pattern.endswith("…")


def test_empty_config_has_no_rows() -> None:
    assert rows("rule", KbridgeConfig()) == []


def test_rows_of_one_named_object(example_file: Path) -> None:
    config = load_config(example_file, env={})
    assert [row[0] for row in rows("target", config, "ops-slack")] == ["ops-slack"]
    assert rows("target", config, "nothing") == []
