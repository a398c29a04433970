"""The IM sinks' view of their target models (defined in :mod:`processor.config.targets`).

Sinks are built from the validated target model; :func:`coerce_target` also accepts a plain
mapping (tests, embedding), validating it with the same model so there is one definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from processor.config.targets import (
    Digest,
    DingtalkTarget,
    EmailTarget,
    FeishuTarget,
    SlackTarget,
    WecomTarget,
)
from processor.errors import ConfigError

__all__ = [
    "Digest",
    "DingtalkTarget",
    "EmailTarget",
    "FeishuTarget",
    "SlackTarget",
    "WecomTarget",
    "coerce_target",
]

T = TypeVar("T", bound=BaseModel)


def coerce_target(model: type[T], target: Any) -> T:
    """``target`` as ``model``: an instance passes through, a mapping is validated."""
    if isinstance(target, model):
        return target
    if isinstance(target, Mapping):
        try:
            return model.model_validate(dict(target))
        except ValidationError as exc:
            # Without input values: a rejected URL or secret must not reach a log line.
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors(include_input=False, include_url=False)
            )
            raise ConfigError(
                f"target {target.get('name')!r}: invalid {model.__name__}: {problems}"
            ) from None
    raise ConfigError(f"expected a {model.__name__}, got {type(target).__name__}")
