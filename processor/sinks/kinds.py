"""Import every sink module so that each registers its target kind.

The registry in :mod:`processor.sinks.base` is filled by import side effects of the
``@register_sink`` decorators; the worker imports this module once before building sinks.
The IM sinks register themselves when the ``processor.sinks.im`` package is imported.
"""

from __future__ import annotations

import importlib
import importlib.util

from processor.sinks import function, kafka, mysql, webhook

BUILTIN = (function, kafka, mysql, webhook)

if importlib.util.find_spec("processor.sinks.im") is not None:
    importlib.import_module("processor.sinks.im")
