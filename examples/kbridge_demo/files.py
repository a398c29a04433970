"""Where the demo's configuration is, in a checkout or an installed wheel.

The example configuration lives once, in ``examples/kbridge.yaml`` (the README, the docs,
the Dockerfile and the Kubernetes manifests point there). A regular (non-editable) install
ships it as a data file under ``<prefix>/share/kbridge/examples`` (``[tool.setuptools.
data-files]`` in pyproject), so ``kbridge demo`` also runs outside the checkout.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1]
_NAME = "kbridge.yaml"


def example_config() -> Path:
    """The path of the example ``kbridge.yaml``: the checkout's copy first, else the installed one.

    Raises :class:`FileNotFoundError` naming every place looked at.
    """
    candidates = [
        _CHECKOUT,
        Path(sysconfig.get_path("data")) / "share" / "kbridge" / "examples",
        Path(sys.prefix) / "share" / "kbridge" / "examples",
    ]
    for folder in candidates:
        if (folder / _NAME).is_file():
            return folder / _NAME
    looked = ", ".join(str(folder / _NAME) for folder in candidates)
    raise FileNotFoundError(f"the example configuration is missing (looked at {looked})")
