"""The event-ruler harness, built on first use and started once per test session.

Run longer with ``KBRIDGE_HYPOTHESIS_PROFILE=long`` (20,000 examples per test, or as many
as ``KBRIDGE_HYPOTHESIS_EXAMPLES`` says). The hypothesis strategies and the conformance
cases are shared with the pattern unit tests through ``tests.support``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from eventruler_harness import EventRuler, HarnessUnavailable
from hypothesis import HealthCheck, settings

settings.register_profile(
    "interop-default",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "interop-long",
    max_examples=int(os.environ.get("KBRIDGE_HYPOTHESIS_EXAMPLES", "20000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
INTEROP_PROFILE = settings.get_profile(
    "interop-long" if os.environ.get("KBRIDGE_HYPOTHESIS_PROFILE") == "long" else "interop-default"
)


@pytest.fixture(scope="session")
def event_ruler() -> Iterator[EventRuler]:
    """A running event-ruler; skips only where Java or Maven is not installed at all."""
    try:
        ruler = EventRuler()
    except HarnessUnavailable as exc:
        if "on PATH" in str(exc):
            pytest.skip(str(exc))
        raise
    try:
        yield ruler
    finally:
        ruler.close()
