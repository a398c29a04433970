"""End-to-end tests run kbridge as users do: see :mod:`tests.support.kbridge`.

The names are re-exported here only for modules written before the helpers moved to
``tests/support`` (new code imports ``tests.support.kbridge``); the ``kbridge`` fixture
itself is registered for all tests by ``tests/conftest.py``.
"""

from tests.support.kbridge import ROOT, Kbridge, kbridge, read_topic

__all__ = ["ROOT", "Kbridge", "kbridge", "read_topic"]
