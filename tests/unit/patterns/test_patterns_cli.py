"""``kbridge test-pattern``: the answer is printed and is the exit status."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from processor.cli import build_app

RUNNER = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = RUNNER.invoke(build_app(), ["test-pattern", *args])
    return result.exit_code, result.stdout, result.stderr


def test_match_and_no_match() -> None:
    assert _run("--pattern", '{"source": ["a"]}', "--event", '{"source": "a"}') == (
        0,
        "match\n",
        "",
    )
    code, out, _ = _run("-p", '{"source": ["a"]}', "-e", '{"source": "b"}')
    assert (code, out) == (1, "no match\n")


def test_files_with_at_sign(tmp_path: Path) -> None:
    pattern = tmp_path / "p.json"
    event = tmp_path / "e.json"
    pattern.write_text('{"detail": {"n": [{"numeric": [">", 1]}]}}')
    event.write_text('{"detail": {"n": 2}}')
    assert _run("--pattern", f"@{pattern}", "--event", f"@{event}")[:2] == (0, "match\n")


def test_invalid_pattern_exits_2_with_aws_reason() -> None:
    code, out, err = _run("--pattern", '{"source": "a"}', "--event", "{}")
    assert code == 2 and out == ""
    assert err.startswith(
        'Event pattern is not valid. Reason: "source" must be an object or an array'
    )


def test_invalid_event_and_missing_file_exit_2(tmp_path: Path) -> None:
    assert _run("--pattern", '{"a": ["b"]}', "--event", "[1]")[0] == 2
    code, _, err = _run("--pattern", f"@{tmp_path / 'missing.json'}", "--event", "{}")
    assert code == 2 and "cannot read pattern file" in err
