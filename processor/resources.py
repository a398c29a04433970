"""Where kbridge's top-level data folders (``schemas/``, ``examples/``) are, checkout or install.

The files live once, at the top of the repository (editors, the docs and the deployment
manifests read them there). A regular (non-editable) install ships them as data files under
``<prefix>/share/kbridge/<folder>`` (see ``[tool.setuptools.data-files]`` in pyproject).
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

_REPOSITORY = Path(__file__).resolve().parents[1]


def candidates(folder: str) -> list[Path]:
    """Where ``<folder>/`` may be, in the order looked at: the checkout, then the install."""
    return [
        _REPOSITORY / folder,
        Path(sysconfig.get_path("data")) / "share" / "kbridge" / folder,
        Path(sys.prefix) / "share" / "kbridge" / folder,
    ]


def data_file(folder: str, name: str) -> Path | None:
    """The path of ``<folder>/<name>``: the checkout's copy first, else the installed one."""
    for place in candidates(folder):
        if (place / name).is_file():
            return place / name
    return None


def schema_file(name: str) -> Path:
    """The path of ``schemas/<name>`` (the checkout's path when it is nowhere, for messages)."""
    return data_file("schemas", name) or _REPOSITORY / "schemas" / name
