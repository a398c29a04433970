"""The 155 EventBridge conformance cases (checked against AWS), loaded with json5."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import json5

# a copy inside the repository (tests/conformance/README.md says where it comes from)
CASES_DIR = Path(__file__).resolve().parents[1] / "conformance" / "eventbridge-patterns"


@dataclass(frozen=True)
class Case:
    """One case: AWS's verdict is in the file name (``_NEG`` no match, ``_EXC`` invalid)."""

    name: str
    pattern: dict[str, Any]
    event: dict[str, Any]
    aws_error: str | None  # AWS's message (first line) for _EXC cases

    @property
    def invalid(self) -> bool:
        return self.name.endswith("_EXC")

    @property
    def matches(self) -> bool:
        return not self.invalid and not self.name.endswith("_NEG")


def _aws_messages() -> dict[str, str]:
    snapshot = json.loads((CASES_DIR / "aws-responses.snapshot.json").read_text())
    out: dict[str, str] = {}
    for key, value in snapshot.items():
        name = key.rsplit("[", 1)[-1].rstrip("]")
        recorded = value.get("recorded-content", {}).get(name)
        if recorded and "exception_message" in recorded:
            out[name] = recorded["exception_message"]["Error"]["Message"].split("\n")[0]
    return out


def load_cases() -> list[Case]:
    """Every case file, sorted by name."""
    messages = _aws_messages()
    cases = []
    for path in sorted(CASES_DIR.glob("*.json5")):
        document = json5.loads(path.read_text(encoding="utf-8"))
        name = path.name.removesuffix(".json5")
        cases.append(Case(name, document["EventPattern"], document["Event"], messages.get(name)))
    return cases
