"""docs/configuration.md: the generated reference is current and its example is valid."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from processor.config.loader import parse_config

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "configuration.md"
SCRIPT = ROOT / "scripts" / "gen_docs.py"


def test_committed_page_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, (
        f"{result.stderr.strip()}\ndocs/configuration.md is stale: run "
        "`python scripts/gen_docs.py` (and describe new fields in FIELD_DOCS)"
    )


def test_every_field_of_every_kind_is_documented() -> None:
    from processor.config.sources import AnySource
    from processor.config.targets import AnyTarget

    text = PAGE.read_text(encoding="utf-8")
    for union in (AnyTarget, AnySource):
        for model in union.__args__:
            kind = model.model_fields["kind"].default
            assert f"`kind: {kind}`" in text, kind
            section = text.split(f'<a id="{model.__name__.lower()}"></a>', 1)[1]
            section = section.split("\n#", 1)[0]
            for name in model.__annotations__:
                if name in model.model_fields:
                    assert f"| `{name}` |" in section, f"{model.__name__}.{name}"


def test_full_example_is_a_valid_configuration() -> None:
    text = PAGE.read_text(encoding="utf-8")
    block = re.search(r"## A full example\n\n```yaml\n(.*?)```", text, re.S)
    assert block is not None
    env = {
        "PARTNER_CLIENT_SECRET": "s3cret",
        "GITHUB_WEBHOOK_SECRET": "gh-secret",
        "DINGTALK_URL": "https://oapi.dingtalk.com/robot/send?access_token=t",
    }
    config = parse_config(block.group(1), "configuration.md", env=env)
    assert config.counts() == {
        "buses": 1,
        "connections": 1,
        "targets": 3,
        "sources": 2,
        "rules": 1,
    }
    assert config.target("alarms-db").url == "sqlite:///alarms.db"  # type: ignore[union-attr]


def test_env_substitution_as_documented() -> None:
    config = parse_config(
        "buses: [{name: b, partitions: '${P:-6}', description: '$${LITERAL}'}]", env={"P": ""}
    )
    assert config.buses[0].partitions == 6
    assert config.buses[0].description == "${LITERAL}"
