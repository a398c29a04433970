"""``kbridge test``: YAML test files, their checks, failure diffs, speed and exit codes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from processor.authoring.testfiles import diff, is_subset, run
from processor.cli import build_app

runner = CliRunner()

CONFIG = """
buses: [{name: b}]
targets:
  - {name: hook, kind: webhook, url: "https://hooks.example.com/in"}
  - {name: chat, kind: slack, url: "https://hooks.slack.example.com/services/T/B/x"}
rules:
  - name: orders
    bus: b
    pattern: {source: [shop], type: [order.created]}
    targets:
      - {target: hook, transform: {path: $.data}}
      - target: chat
        transform:
          input_paths: {id: $.data.id, total: $.data.total}
          input_template: "order <id>: <total> EUR"
  - name: refunds
    bus: b
    pattern: {source: [shop], type: [order.refunded]}
    targets: [{target: hook}]
"""
ORDER = {
    "specversion": "1.0",
    "id": "o-1",
    "source": "shop",
    "type": "order.created",
    "data": {"id": "A7", "total": 42, "lines": [{"sku": "x", "qty": 2}]},
}
PASSING = {
    "config": "kbridge.yaml",
    "tests": [
        {
            "name": "an order goes to the hook and the chat",
            "event": ORDER,
            "expect": {
                "matched": ["orders"],
                "not_matched": ["refunds"],
                "targets": {
                    "hook": {
                        "payload": ORDER["data"],
                        "payload_subset": {"lines": [{"sku": "x"}]},
                        "payload_pattern": {"total": [{"numeric": [">", 40]}]},
                        "content_type": "application/json",
                        "sent_subset": {"method": "POST", "headers": {"ce-id": "o-1"}},
                    },
                    "chat": {
                        "payload": "order A7: 42 EUR",
                        "sent_subset": {"requests": [{"body": {"text": "order A7: 42 EUR"}}]},
                    },
                },
            },
        },
        {
            "name": "another type goes nowhere",
            "event": dict(ORDER, type="order.viewed"),
            "expect": {"matched": [], "not_targets": ["hook", "chat"]},
        },
    ],
}


def write(tmp_path: Path, spec: object, name: str = "orders.kbridge-test.yaml") -> Path:
    (tmp_path / "kbridge.yaml").write_text(CONFIG)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_the_example_configuration_passes_its_tests(examples: Path) -> None:
    """What `make test` runs: examples/kbridge.kbridge-test.yaml against examples/kbridge.yaml."""
    summary = run([examples], env={})
    assert summary.errors == []
    assert [r.failures for r in summary.results if not r.passed] == []
    assert len(summary.results) >= 7
    assert summary.ok


def test_every_kind_of_expectation_passes(tmp_path: Path) -> None:
    summary = run([write(tmp_path, PASSING)], env={})
    assert [(r.name, r.failures) for r in summary.results] == [
        ("an order goes to the hook and the chat", []),
        ("another type goes nowhere", []),
    ]


def test_a_broken_case_fails_with_a_readable_diff(tmp_path: Path) -> None:
    spec = json.loads(json.dumps(PASSING))
    hook = spec["tests"][0]["expect"]["targets"]["hook"]
    hook["payload"]["total"] = 41
    hook["payload_subset"] = {"lines": [{"sku": "y"}]}
    hook["payload_pattern"] = {"total": [{"numeric": ["<", 10]}]}
    spec["tests"][0]["expect"]["targets"]["chat"]["payload"] = "order A7: 41 EUR"
    spec["tests"][0]["expect"]["matched"] = ["orders", "refunds"]
    spec["tests"][0]["expect"]["targets"]["hok"] = {"payload": 1}
    [case, _] = run([write(tmp_path, spec)], env={}).results
    assert not case.passed
    text = "\n".join(case.failures)
    assert "matched rules:\n" in text
    assert '    -  "refunds"' in text
    assert "targets.hook.payload:\n    --- expected\n    +++ actual\n" in text
    assert '    -  "total": 41\n    +  "total": 42' in text
    # a subset diff shows only what was asked for
    assert '    -      "sku": "y"\n    +      "sku": "x"' in text
    assert "targets.hook.payload_pattern: the payload does not match" in text
    assert "targets.chat.payload:\n    --- expected\n    +++ actual\n" in text
    assert "    -order A7: 41 EUR\n    +order A7: 42 EUR" in text  # text diffs line by line
    assert "target 'hok' received nothing (did you mean 'hook'? known: chat, hook)" in text


def test_a_dead_letter_can_be_expected(tmp_path: Path) -> None:
    spec = {
        "tests": [
            {
                "name": "an order without data",
                "event": {k: v for k, v in ORDER.items() if k != "data"},
                "expect": {"targets": {"hook": {"error": "path $.data selected nothing"}}},
            },
            {
                "name": "a good order is no dead letter",
                "event": ORDER,
                "expect": {"targets": {"hook": {"error": "selected nothing"}}},
            },
        ]
    }
    first, second = run([write(tmp_path, spec)], env={}).results
    assert first.failures == []
    assert second.failures == [
        "targets.hook.error: expected a dead letter with 'selected nothing', got None"
    ]


def test_cli_output_and_exit_codes(tmp_path: Path) -> None:
    path = write(tmp_path, PASSING)
    result = runner.invoke(build_app(), ["test", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:3] == [
        str(path),
        "  PASS an order goes to the hook and the chat",
        "  PASS another type goes nowhere",
    ]
    assert result.stdout.splitlines()[-1].startswith("2 passed, 0 failed in ")
    spec = json.loads(json.dumps(PASSING))
    spec["tests"][1]["expect"]["matched"] = ["orders"]
    write(tmp_path, spec)
    result = runner.invoke(build_app(), ["test", str(path)])
    assert result.exit_code == 1
    assert "  FAIL another type goes nowhere\n      matched rules:\n" in result.stdout
    result = runner.invoke(build_app(), ["test", str(path), "-o", "json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["passed"], data["failed"]) == (1, 1)
    assert data["cases"][1]["failures"][0].startswith("matched rules:")


def test_an_invalid_test_file_names_the_field(tmp_path: Path) -> None:
    spec = {"tests": [{"name": "x", "event": ORDER, "expect": {"matchd": ["orders"]}}]}
    path = write(tmp_path, spec)
    result = runner.invoke(build_app(), ["test", str(path)])
    assert result.exit_code == 2
    assert (
        f"{path}:15:5: tests[0].expect.matchd: unknown key 'matchd' (did you mean 'matched'? "
        "valid keys: matched, not_matched, not_targets, targets)"
    ) in result.stderr
    path.write_text("tests: [a: b: c]\n")
    result = runner.invoke(build_app(), ["test", str(path)])
    assert result.exit_code == 2
    assert f"{path}:1:" in result.stderr and "invalid YAML" in result.stderr
    (tmp_path / "empty-dir").mkdir()
    result = runner.invoke(build_app(), ["test", str(tmp_path / "empty-dir")])
    assert result.exit_code == 2
    assert "no test files (*.kbridge-test.yaml)" in result.stderr


def test_the_test_file_config_is_validated_with_lines(tmp_path: Path) -> None:
    path = write(tmp_path, PASSING)
    (tmp_path / "kbridge.yaml").write_text(CONFIG.replace("bus: b\n", "bus: bb\n", 1))
    result = runner.invoke(build_app(), ["test", str(path)])
    assert result.exit_code == 2
    assert (
        f"{tmp_path / 'kbridge.yaml'}:8:5: rules[orders].bus: bus 'bb' is not defined "
        "(did you mean 'b'? known: b)"
    ) in result.stderr


@pytest.mark.parametrize("cases", [300])
def test_hundreds_of_cases_per_second(tmp_path: Path, cases: int) -> None:
    spec = {
        "tests": [
            {
                "name": f"order {i}",
                "event": dict(ORDER, id=f"o-{i}", data=dict(ORDER["data"], total=i)),  # type: ignore[arg-type]
                "expect": {
                    "matched": ["orders"],
                    "targets": {"chat": {"payload": f"order A7: {i} EUR"}},
                },
            }
            for i in range(cases)
        ]
    }
    path = write(tmp_path, spec)
    run([path], env={})  # warm: imports, first sink builds
    started = time.perf_counter()
    summary = run([path], env={})
    seconds = time.perf_counter() - started
    assert summary.ok and len(summary.results) == cases
    assert seconds < 1.0, f"{cases} cases took {seconds:.2f} s"


def test_is_subset_and_diff() -> None:
    assert is_subset({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2, "c": 3}, 4], "d": 5})
    assert not is_subset({"a": [2]}, {"a": [1, 2]})  # lists compare in order
    assert not is_subset({"a": 1}, {"a": "1"})
    assert diff("x\ny", "x\nz").splitlines() == [
        "    --- expected",
        "    +++ actual",
        "    @@ -1,2 +1,2 @@",
        "     x",
        "    -y",
        "    +z",
    ]
