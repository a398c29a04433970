"""CloudEvents 1.0 context-attribute rules, as plain functions.

Both the pydantic :class:`~processor.events.model.CloudEvent` and the router's fast
``decode_json_form`` path call these, so that a record is accepted or rejected (with the same
message) whichever way it is read. Every function raises
:class:`~processor.errors.InvalidEventError` naming the attribute and what is wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from processor.errors import InvalidEventError

SPECVERSION = "1.0"
REQUIRED: tuple[str, ...] = ("specversion", "id", "source", "type")
OPTIONAL: tuple[str, ...] = ("datacontenttype", "dataschema", "subject", "time")
CORE: frozenset[str] = frozenset(REQUIRED + OPTIONAL)
#: Keys of the structured JSON form that are not context attributes.
DATA_KEYS: frozenset[str] = frozenset({"data", "data_base64"})

_EXTENSION_NAME = re.compile(r"^[a-z0-9]+$")
# RFC 3986 URI-reference: only unreserved, reserved and percent-encoded characters.
_URI_CHARS = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
#: The longest ``id`` kbridge accepts (characters). CloudEvents sets no bound, but ids key
#: the MySQL sink's table (``VARCHAR(MAX_ID_LENGTH)``, docs/connectors.md): a longer id would
#: dead-letter there, or under a non-strict ``sql_mode`` be truncated so that two events
#: sharing a prefix overwrite each other. Refusing it at ingest names the problem at once.
MAX_ID_LENGTH = 255

ExtensionValue = str | int | bool

# Values already found valid; the router checks the same few sources and extension names
# millions of times. Bounded, so that hostile input cannot grow them without limit.
_CACHE_SIZE = 10_000
_VALID_URI_REFERENCES: set[str] = set()
_VALID_EXTENSION_NAMES: set[str] = set()


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_string(name: str, value: object, *, allow_empty: bool = False) -> str:
    """A string attribute; the required ones must also be non-empty."""
    if not isinstance(value, str):
        raise InvalidEventError(
            f"attribute '{name}' must be a string, got {type(value).__name__} {_preview(value)}"
        )
    if not value and not allow_empty:
        raise InvalidEventError(f"attribute '{name}' must be a non-empty string")
    return value


def check_id(value: object) -> str:
    """A non-empty ``id`` of at most :data:`MAX_ID_LENGTH` characters."""
    text = check_string("id", value)
    if len(text) > MAX_ID_LENGTH:
        raise InvalidEventError(
            f"attribute 'id' is {len(text)} characters long; kbridge accepts at most "
            f"{MAX_ID_LENGTH} (the event store's key length)"
        )
    return text


def check_uri_reference(name: str, value: object) -> str:
    """A non-empty RFC 3986 URI-reference (``source``): relative references are fine."""
    text = check_string(name, value)
    if text in _VALID_URI_REFERENCES:  # sources repeat: checked once per process
        return text
    if not _URI_CHARS.match(text):
        raise InvalidEventError(
            f"attribute '{name}' must be a URI-reference (RFC 3986): {_preview(text)} contains "
            "characters that must be percent-encoded (such as spaces or non-ASCII)"
        )
    first_segment = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if ":" in first_segment and not _SCHEME.match(text):
        raise InvalidEventError(
            f"attribute '{name}' must be a URI-reference (RFC 3986): {_preview(text)} has an "
            "invalid scheme"
        )
    if len(_VALID_URI_REFERENCES) < _CACHE_SIZE:
        _VALID_URI_REFERENCES.add(text)
    return text


def check_uri(name: str, value: object) -> str:
    """An absolute RFC 3986 URI (``dataschema``): a scheme is required."""
    text = check_uri_reference(name, value)
    if not _SCHEME.match(text):
        raise InvalidEventError(
            f"attribute '{name}' must be an absolute URI with a scheme, got {_preview(text)}"
        )
    return text


def check_time(name: str, value: object) -> str:
    """An RFC 3339 timestamp, kept as the producer wrote it."""
    text = check_string(name, value)
    if not _RFC3339.match(text):
        raise InvalidEventError(
            f"attribute '{name}' must be an RFC 3339 timestamp such as "
            f"'2024-01-31T12:00:00Z', got {_preview(text)}"
        )
    try:
        datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEventError(
            f"attribute '{name}' is not a valid date and time: {_preview(text)}"
        ) from None
    return text


def format_time(value: datetime) -> str:
    """RFC 3339 text of an aware datetime (UTC rendered as ``Z``)."""
    if value.tzinfo is None:
        raise InvalidEventError("attribute 'time' must be timezone-aware")
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def check_extension_name(name: object) -> str:
    """Extension names: lowercase ASCII letters and digits, not a core attribute name."""
    if name in _VALID_EXTENSION_NAMES:
        return name  # a str: only strs are added
    if not isinstance(name, str) or not _EXTENSION_NAME.match(name):
        raise InvalidEventError(
            f"attribute name {_preview(name)} is invalid: CloudEvents attribute names "
            "consist of lowercase ASCII letters and digits only"
        )
    if name in CORE or name in DATA_KEYS:
        raise InvalidEventError(f"'{name}' is a core attribute, not an extension")
    if len(_VALID_EXTENSION_NAMES) < _CACHE_SIZE:
        _VALID_EXTENSION_NAMES.add(name)
    return name


def check_extension_value(name: str, value: object) -> ExtensionValue:
    """Extension values: String, Boolean or 32-bit Integer (the CloudEvents type system)."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not _INT32_MIN <= value <= _INT32_MAX:
            raise InvalidEventError(
                f"extension '{name}' is an Integer outside the 32-bit range: {value}"
            )
        return value
    raise InvalidEventError(
        f"extension '{name}' must be a string, integer or boolean, "
        f"got {type(value).__name__} {_preview(value)}"
    )


_OPTIONAL_CHECKS: dict[str, Callable[[object], str]] = {
    "datacontenttype": lambda v: check_string("datacontenttype", v),
    "dataschema": lambda v: check_uri("dataschema", v),
    "subject": lambda v: check_string("subject", v),
    "time": lambda v: check_time("time", v),
}


def check_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a mapping of context attributes (no ``data``) and return it cleaned.

    ``None`` values count as absent, as the JSON format prescribes for optional attributes.
    The order of the result is the canonical one: required, optional, then extensions.
    """
    for name in REQUIRED:
        if attributes.get(name) is None:
            raise InvalidEventError(f"missing required attribute '{name}'")
    specversion = check_string("specversion", attributes["specversion"])
    if specversion != SPECVERSION:
        raise InvalidEventError(
            f"attribute 'specversion' must be '{SPECVERSION}', got {_preview(specversion)}"
        )
    result: dict[str, Any] = {
        "specversion": specversion,
        "id": check_id(attributes["id"]),
        "source": check_uri_reference("source", attributes["source"]),
        "type": check_string("type", attributes["type"]),
    }
    for name, check in _OPTIONAL_CHECKS.items():
        value = attributes.get(name)
        if value is not None:
            result[name] = check(value)
    for name, value in attributes.items():
        if name in CORE or value is None:
            continue
        check_extension_name(name)
        result[name] = check_extension_value(name, value)
    return result


def extension_header_text(value: ExtensionValue) -> str:
    """The canonical string form of an extension value (for headers and Avro-less paths)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
