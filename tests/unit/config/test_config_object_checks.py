"""Checks of one object against the live configuration (the management API's path)."""

from __future__ import annotations

from processor.config import parse_config
from processor.config.checks import check_object, dependents
from processor.config.records import parse_object

LIVE = parse_config(
    """
buses: [{name: saas}]
connections: [{name: creds, kind: api_key, value: k}]
targets:
  - {name: hook, kind: webhook, url: "http://x", connection: creds}
  - {name: fn, kind: function, entry_point: agg, publish_to_bus: saas}
sources: [{name: gh, kind: github, bus: saas, secret: s}]
rules:
  - {name: r, bus: saas, pattern: {source: [a]}, targets: [{target: hook}, {target: fn}]}
""",
    env={},
)


def test_a_consistent_rule_has_no_problems() -> None:
    rule = parse_object(
        "rule",
        {"name": "new", "bus": "saas", "pattern": {"type": ["x"]}, "targets": [{"target": "hook"}]},
    )
    assert check_object("rule", rule, LIVE) == []


def test_a_rule_with_missing_references_and_a_bad_pattern() -> None:
    rule = parse_object(
        "rule",
        {"name": "new", "bus": "nope", "pattern": {"type": "x"}, "targets": [{"target": "t"}]},
    )
    problems = [f"{p.location}: {p.message}" for p in check_object("rule", rule, LIVE)]
    assert problems[:2] == [
        "rules[new].bus: bus 'nope' is not defined (known: saas)",
        "rules[new].targets[0].target: target 't' is not defined (known: fn, hook)",
    ]
    assert problems[2].startswith("rules[new].pattern: Event pattern is not valid.")


def test_replacing_an_object_checks_the_new_version_only() -> None:
    target = parse_object(
        "target", {"name": "hook", "kind": "webhook", "url": "http://y", "connection": "gone"}
    )
    problems = check_object("target", target, LIVE)
    assert [(p.location, p.message) for p in problems] == [
        ("targets[hook].connection", "connection 'gone' is not defined (known: creds)")
    ]


def test_dependents_of_each_kind() -> None:
    assert dependents(LIVE, "bus", "saas") == ["rule/r", "target/fn", "source/gh"]
    assert dependents(LIVE, "target", "hook") == ["rule/r"]
    assert dependents(LIVE, "connection", "creds") == ["target/hook"]
    assert dependents(LIVE, "rule", "r") == []
