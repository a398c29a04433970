"""Fixtures of the authoring tests (kbridge route / kbridge test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.authoring.route import Router
from processor.config import load_config

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(scope="session")
def examples() -> Path:
    """The repository's examples/ directory."""
    return EXAMPLES


@pytest.fixture(scope="session")
def example_router() -> Router:
    """examples/kbridge.yaml compiled once."""
    return Router(load_config(EXAMPLES / "kbridge.yaml", env={}))
