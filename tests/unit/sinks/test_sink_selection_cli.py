"""``kbridge sink --target/--kind/--all`` refuses selections that can never run (no broker).

With ``-f`` the configuration never changes, so a named target missing from the file or a
selection matching no target would leave a process idling forever; an unknown ``--kind``
never matches anything, live or not. Each is exit code 2 with one line naming what exists,
before Kafka is contacted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from processor.cli import build_app
from processor.sinks.multi import TargetSelection

RUNNER = CliRunner()

CONFIG = """\
buses:
  - name: orders
targets:
  - name: hook-a
    kind: webhook
    url: https://example.com/a
  - name: hook-b
    kind: webhook
    url: https://example.com/b
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "kbridge.yaml"
    path.write_text(CONFIG)
    return path


def run(*args: str) -> tuple[int, str]:
    result = RUNNER.invoke(build_app(), ["sink", *args])
    return result.exit_code, result.output


def test_a_named_target_missing_from_the_file(config_file: Path) -> None:
    code, output = run("--target", "hook-a", "--target", "nope", "-f", str(config_file))
    assert code == 2
    assert f"{config_file} has no target 'nope' (targets: hook-a, hook-b)" in output
    assert "Traceback" not in output


def test_a_kind_with_no_target_in_the_file(config_file: Path) -> None:
    code, output = run("--kind", "mysql", "-f", str(config_file))
    assert code == 2
    assert f"{config_file} has no target of kind mysql (targets: hook-a, hook-b)" in output


def test_an_unknown_kind_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    code, output = run("--kind", "webhok", "-f", str(tmp_path / "absent.yaml"))
    assert code == 2
    assert "unknown --kind webhok (kinds: mysql, webhook," in output


def test_messages_describe_the_selection() -> None:
    selection = TargetSelection.of(["b", "a"], kinds=["webhook"])
    assert selection.describe() == "kind webhook, target a, target b"
    assert TargetSelection.of(every=True).describe() == "every target"
