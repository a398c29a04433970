"""Turn a rule target's ``transform`` mapping into a compiled :class:`Transform`.

The spec is the mapping from kbridge.yaml (or the management API), so it is validated here
the way pydantic models are elsewhere: unknown keys and mixed kinds are errors, never
silently ignored, and every message names the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from processor.transform.base import Transform
from processor.transform.errors import TransformSpecError
from processor.transform.jsonpath import InvalidPathError, compile_path
from processor.transform.simple import ConstantTransform, PathTransform, WholeEventTransform
from processor.transform.template import TemplateTransform

_KINDS: Final = {"path": ("path",), "constant": ("constant",), "template": ("input_template",)}
_KEYS: Final = frozenset({"path", "constant", "input_paths", "input_template"})
_WHOLE: Final = WholeEventTransform()


def compile_transform(spec: Mapping[str, Any] | None) -> Transform:
    """Compile ``spec`` once; raises :class:`TransformSpecError` when it is invalid.

    ``None`` or ``{}`` is the whole event; ``{path}``, ``{constant}`` and
    ``{input_paths, input_template}`` are the other kinds (exactly one per spec).
    """
    if spec is None:
        return _WHOLE
    if not isinstance(spec, Mapping):
        raise TransformSpecError(f"transform must be a mapping, got {type(spec).__name__}")
    unknown = sorted(str(key) for key in spec if key not in _KEYS)
    if unknown:
        raise TransformSpecError(
            f"transform has unknown key(s) {', '.join(unknown)}; "
            f"expected one of: path, constant, input_paths + input_template"
        )
    kinds = [kind for kind, keys in _KINDS.items() if any(key in spec for key in keys)]
    if len(kinds) > 1:
        raise TransformSpecError(
            f"transform mixes the kinds {' and '.join(kinds)}; give exactly one"
        )
    if "input_paths" in spec and kinds != ["template"]:
        raise TransformSpecError("transform has input_paths but no input_template")
    if not kinds:
        return _WHOLE
    if kinds == ["path"]:
        try:
            return PathTransform(compile_path(spec["path"]))
        except InvalidPathError as exc:
            raise TransformSpecError(f"path: JSONPath {spec['path']!r} {exc}") from None
    if kinds == ["constant"]:
        try:
            return ConstantTransform.of(spec["constant"])
        except TypeError as exc:
            raise TransformSpecError(f"constant is not JSON serializable: {exc}") from None
    return TemplateTransform(spec.get("input_paths"), spec["input_template"])
