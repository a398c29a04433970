"""Fixtures of the config unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def example_file() -> Path:
    """The repository's examples/kbridge.yaml (the three scenarios)."""
    return Path(__file__).resolve().parents[3] / "examples" / "kbridge.yaml"
