"""``kbridge test-pattern`` with the AWS CLI's habits.

AWS CLI: ``aws events test-event-pattern --event-pattern ... --event ...`` takes JSON,
``file://PATH`` (https://docs.aws.amazon.com/cli/latest/userguide/cli-usage-parameters-file.html)
and answers ``{"Result": true|false}``
(https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_TestEventPattern.html).
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from processor.cli import build_app

runner = CliRunner()
PATTERN = {"source": ["shop"], "detail": {"total": [{"numeric": [">", 10]}]}}
EVENT = {"source": "shop", "detail-type": "order", "detail": {"total": 42}}


def test_event_pattern_alias_and_file_urls(tmp_path: Path) -> None:
    pattern = tmp_path / "pattern.json"
    pattern.write_text(json.dumps(PATTERN))
    event = tmp_path / "event.json"
    event.write_text(json.dumps(EVENT))
    result = runner.invoke(
        build_app(),
        ["test-pattern", "--event-pattern", f"file://{pattern}", "--event", f"file://{event}"],
    )
    assert (result.exit_code, result.stdout) == (0, "match\n")
    result = runner.invoke(build_app(), ["test-pattern", "-p", f"@{pattern}", "-e", f"@{event}"])
    assert (result.exit_code, result.stdout) == (0, "match\n")


def test_stdin_and_json_output() -> None:
    result = runner.invoke(
        build_app(),
        ["test-pattern", "--event-pattern", json.dumps(PATTERN), "--event", "-", "-o", "json"],
        input=json.dumps(EVENT),
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"Result": True}
    low = dict(EVENT, detail={"total": 3})
    result = runner.invoke(
        build_app(),
        ["test-pattern", "--event-pattern", "-", "--event", json.dumps(low), "-o", "json"],
        input=json.dumps(PATTERN),
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"Result": False}


def test_readable_failures(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    result = runner.invoke(
        build_app(), ["test-pattern", "--event-pattern", f"file://{missing}", "-e", "{}"]
    )
    assert result.exit_code == 2
    assert (
        result.stderr == f"error: cannot read pattern file {missing}: No such file or directory\n"
    )
    result = runner.invoke(build_app(), ["test-pattern", "-p", "-", "-e", "-"], input="{}")
    assert result.exit_code == 2
    assert "only one of --event-pattern and --event can read stdin" in result.stderr
    result = runner.invoke(
        build_app(), ["test-pattern", "-p", json.dumps(PATTERN), "-e", "{}", "-o", "yaml"]
    )
    assert result.exit_code == 2
    assert "unknown output format 'yaml' (text or json)" in result.stderr
