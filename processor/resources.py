"""Where the files of the top-level ``schemas/`` folder are, in a checkout or an install.

The schemas live once, in ``schemas/`` at the top of the repository (editors and other
tools read them there). A regular (non-editable) install ships them as data files under
``<prefix>/share/kbridge/schemas`` (see ``[tool.setuptools.data-files]`` in pyproject).
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1] / "schemas"


def schema_file(name: str) -> Path:
    """The path of ``schemas/<name>``: the checkout's copy first, else the installed one."""
    candidates = [
        _CHECKOUT,
        Path(sysconfig.get_path("data")) / "share" / "kbridge" / "schemas",
        Path(sys.prefix) / "share" / "kbridge" / "schemas",
    ]
    for folder in candidates:
        if (folder / name).is_file():
            return folder / name
    return _CHECKOUT / name
