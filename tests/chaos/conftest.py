"""The chaos scenarios run kbridge as users do, with the e2e tests' runner fixture."""

from tests.e2e.conftest import kbridge  # noqa: F401  (re-exported fixture)
