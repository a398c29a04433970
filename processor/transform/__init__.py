"""Transformations applied per (rule, target) before an event reaches its target.

Compile once when rules change, apply per matched event::

    t = compile_transform({"input_paths": {"state": "$.data.detail.state"},
                           "input_template": '{"state": <state>}'})
    t.apply(event, rule_name="ec2-state")        # -> '{"state":"RUNNING"}'
    t.content_type                               # -> "application/json"

Kinds: the whole event (spec absent or ``{}``), a JSONPath part (``{path}``), a constant
(``{constant}``) and an EventBridge-compatible input template (``{input_paths,
input_template}``). Invalid specs raise :class:`TransformSpecError` (a ``ValueError`` and a
``ConfigError``); rendering failures raise :class:`TransformError` (fatal: dead-letter).
"""

from processor.transform.base import Transform
from processor.transform.errors import TransformError, TransformSpecError
from processor.transform.spec import compile_transform

__all__ = ["Transform", "TransformError", "TransformSpecError", "compile_transform"]
