"""The test suite reads nothing outside the repository, so a plain clone tests itself.

CI's checkout used to have a sibling ``shared/`` folder that a user's clone does not; a test
that reached for it passed in CI and failed everywhere else.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARENTS = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?\.parents\[(\d+)\]")
OUTSIDE = re.compile(r"""["'](?:\.\./shared|/work/shared|\.\./\.\./)""")


def test_no_test_file_points_outside_the_repository() -> None:
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in PARENTS.finditer(text):
            target = path.resolve().parents[int(match.group(1))]
            if not target.is_relative_to(ROOT):
                offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)} -> {target}")
        offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
    assert not offenders, offenders


def test_the_conformance_corpus_is_in_the_repository() -> None:
    corpus = ROOT / "tests" / "conformance" / "eventbridge-patterns"
    assert len(list(corpus.glob("*.json5"))) == 155  # the corpus README's count
    assert (corpus / "aws-responses.snapshot.json").is_file()
    assert "LocalStack" in (ROOT / "tests" / "conformance" / "README.md").read_text()
