"""Where the demo's configuration is, in a checkout or an installed wheel.

The example configuration lives once, in ``examples/kbridge.yaml`` (the README, the docs,
the Dockerfile and the Kubernetes manifests point there). A regular (non-editable) install
ships it as a data file under ``<prefix>/share/kbridge/examples`` (``[tool.setuptools.
data-files]`` in pyproject), so ``kbridge demo`` also runs outside the checkout; the lookup
is :mod:`processor.resources`', the same as for the schemas.
"""

from __future__ import annotations

from pathlib import Path

from processor.resources import candidates, data_file

_FOLDER = "examples"
_NAME = "kbridge.yaml"


def example_config() -> Path:
    """The path of the example ``kbridge.yaml``: the checkout's copy first, else the installed one.

    Raises :class:`FileNotFoundError` naming every place looked at.
    """
    path = data_file(_FOLDER, _NAME)
    if path is None:
        looked = ", ".join(str(place / _NAME) for place in candidates(_FOLDER))
        raise FileNotFoundError(f"the example configuration is missing (looked at {looked})")
    return path
