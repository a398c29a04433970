"""The README's first command, as `kbridge demo`: every scenario delivered, a summary printed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.kbridge import ROOT, Kbridge

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_demo_delivers_every_scenario(kbridge: Kbridge) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "processor", "demo", "--engine", "native", "--quiet"],
        env=kbridge.env,
        capture_output=True,
        text=True,
        timeout=280,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "kbridge demo summary" in result.stdout
    assert "every scenario delivered" in result.stdout
    for target in ("survey-aggregate", "ops-dingtalk", "ops-email", "kms-events-db"):
        assert target in result.stdout
