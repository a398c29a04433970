"""Building blocks shared by every configuration model.

Every model forbids unknown keys (a typo is an error, not a silently ignored setting) and
is frozen (a snapshot handed to the router cannot change under it). Object names become
Kafka topic names and record keys (``rule/<name>``), so they share one strict alphabet.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, WithJsonSchema

from processor.kafka.topics import check_name

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,200}$"


class ConfigModel(BaseModel):
    """Base of every kbridge.yaml model: unknown keys rejected, instances immutable.

    A field's description is the string literal under it (``use_attribute_docstrings``):
    the JSON Schema (editors, ``kbridge schema``), docs/configuration.md (scripts/gen_docs.py)
    and error hints all read it from there.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=False, use_attribute_docstrings=True
    )


def _check_object_name(value: str) -> str:
    return check_name(value, "name")


Name = Annotated[
    str,
    AfterValidator(_check_object_name),
    WithJsonSchema({"type": "string", "pattern": NAME_PATTERN}),
]
"""An object name: 1-200 letters, digits, ``-`` or ``_`` (it ends up in topic names)."""

Description = Annotated[str, Field(max_length=1024)]

Secret = SecretStr
"""Secret strings: masked in ``repr``, logs and ``model_dump(mode="json")``.

The config store publishes them in plain text (see :func:`processor.config.records.encode_object`)
because the ``kbridge.rules`` topic *is* the configuration store; protect it with Kafka ACLs.
"""

_PASSWORD_IN_URL = re.compile(
    r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:)(?P<pw>[^@]*)(?P<at>@)"
)


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo part replaced by ``***``, for logs and tables."""
    return _PASSWORD_IN_URL.sub(lambda m: f"{m['head']}***{m['at']}", url, count=1)


def plaintext(value: Any) -> Any:
    """``value`` with every ``SecretStr`` replaced by its secret, recursively."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: plaintext(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plaintext(v) for v in value]
    return value
