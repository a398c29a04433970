"""docs/transformations.md: every documented transform gives exactly the documented output."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from processor.router.core import aws_view
from processor.transform import TransformError, TransformSpecError, compile_transform

PAGE = Path(__file__).resolve().parents[3] / "docs" / "transformations.md"
TEXT = PAGE.read_text(encoding="utf-8")
RULE = "critical-alarms"
INGESTED_AT = "2026-11-26T10:00:00.123Z"

_EVENT = re.compile(r"```json event\n(?P<event>[^\n]*)\n```")
_EXAMPLE = re.compile(
    r"```yaml\n(?P<spec>transform:[^`]*?)```\n\nOutput \(`(?P<content_type>[^`]+)`\):\n\n"
    r"```text\n(?P<output>[^`]*?)\n```"
)
_ERROR_ROW = re.compile(r"^\| `(?P<spec>\{.*\})` \| `(?P<message>.*)` \|$")

EXAMPLES = [m.groupdict() for m in _EXAMPLE.finditer(TEXT)]
ERRORS = [m.groupdict() for m in map(_ERROR_ROW.match, TEXT.splitlines()) if m is not None]


def _event() -> dict[str, Any]:
    match = _EVENT.search(TEXT)
    assert match is not None
    event: dict[str, Any] = json.loads(match["event"])
    return event


def test_the_page_covers_every_kind() -> None:
    kinds = {compile_transform(yaml.safe_load(e["spec"])["transform"]).kind for e in EXAMPLES}
    assert kinds == {"whole", "path", "constant", "template"}
    assert len(EXAMPLES) >= 10
    assert len(ERRORS) >= 6


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["spec"][:60] for e in EXAMPLES])
def test_documented_output(example: dict[str, str]) -> None:
    spec = yaml.safe_load(example["spec"])["transform"]
    transform = compile_transform(spec)
    event = _event()
    # as processor.router.core._egress does: the whole event as it came, others the AWS view
    source = event if transform.kind == "whole" else aws_view(event)
    output = transform.apply(source, rule_name=RULE, ingestion_time=INGESTED_AT)
    assert transform.content_type == example["content_type"]
    expected = example["output"]
    if transform.content_type == "text/plain" and spec.get("input_template", "").endswith("\n"):
        expected += "\n"  # a YAML block scalar keeps its final newline
    assert output == expected


@pytest.mark.parametrize("case", ERRORS, ids=[case["spec"] for case in ERRORS])
def test_documented_spec_error(case: dict[str, str]) -> None:
    with pytest.raises(TransformSpecError) as info:
        compile_transform(json.loads(case["spec"]))
    assert str(info.value) == case["message"]


def test_documented_delivery_time_error() -> None:
    transform = compile_transform({"path": "$.data.nope"})
    with pytest.raises(TransformError) as info:
        transform.apply(aws_view(_event()), rule_name=RULE, ingestion_time=INGESTED_AT)
    assert info.value.code == "transform-failed"
    assert f"`{info.value}`" in TEXT
