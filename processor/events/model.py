"""The canonical event of kbridge: a CloudEvents 1.0 event as a pydantic model.

Every source (PutEvents, CloudEvents HTTP, SaaS webhooks, MQTT, ...) builds one of these and
every binding reads one back. Attribute checks live in :mod:`processor.events.attributes` and
are shared with the router's dict-only fast path, so both accept and reject the same records
with the same message. ``time`` is kept as the RFC 3339 text the producer wrote (a
``datetime`` is accepted and rendered), so that a record decodes to exactly what was sent.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from processor.errors import InvalidEventError
from processor.events import attributes as attrs
from processor.events.attributes import ExtensionValue
from processor.events.content import serialize_data

_FIELDS = ("specversion", "id", "source", "type", *attrs.OPTIONAL)


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event: context attributes, extensions and data.

    ``data`` is any JSON value, or ``bytes`` for binary data (``data_base64`` in the JSON
    form). Constructing an invalid event raises pydantic's ``ValidationError`` carrying the
    same message :class:`~processor.errors.InvalidEventError` has on the decoding paths.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: str = attrs.SPECVERSION
    id: str
    source: str
    type: str
    datacontenttype: str | None = None
    dataschema: str | None = None
    subject: str | None = None
    time: str | None = None
    data: Any = None
    extensions: dict[str, ExtensionValue] = Field(default_factory=dict)
    # An explicit JSON ``null`` payload, distinct from no data (JSON format §3.1.1); only the
    # decoders set it, so ``CloudEvent(data=None)`` keeps meaning "no data".
    _json_null: bool = PrivateAttr(default=False)
    # The JSON text ``data`` was parsed from, kept with the object it was parsed into, so
    # that re-encoding sends the producer's bytes (whitespace, key order, number spelling)
    # unless ``data`` was replaced since (``model_copy``), which the identity check notices.
    _raw_json: tuple[Any, bytes] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _check(cls, values: Any) -> Any:
        if not isinstance(values, Mapping):
            return values
        values = dict(values)
        extensions = values.get("extensions") or {}
        if not isinstance(extensions, Mapping):
            raise ValueError("extensions must be a mapping of attribute name to value")
        try:
            if isinstance(values.get("time"), datetime):
                values["time"] = attrs.format_time(values["time"])
            flat = {name: values.get(name) for name in _FIELDS}
            if flat["specversion"] is None:
                flat["specversion"] = attrs.SPECVERSION
            for name in extensions:
                attrs.check_extension_name(name)
            checked = attrs.check_attributes({**flat, **extensions})
        except InvalidEventError as exc:
            raise ValueError(exc.message) from None
        values.update({name: checked.get(name) for name in _FIELDS})
        values["extensions"] = {k: v for k, v in checked.items() if k not in attrs.CORE}
        return values

    def __eq__(self, other: object) -> bool:
        """Same attributes, extensions and data (an explicit null is not "no data"); the
        producer's JSON bytes are a cache of ``data``, not part of the event."""
        if not isinstance(other, CloudEvent):
            return NotImplemented
        return self.__dict__ == other.__dict__ and self._json_null == other._json_null

    __hash__ = BaseModel.__hash__

    # -- data as bytes -----------------------------------------------------------------------

    def keep_json_bytes(self, raw: bytes) -> CloudEvent:
        """Remember that ``data`` was parsed from ``raw`` (call right after building the event)."""
        if self.data is not None and not isinstance(self.data, bytes | bytearray):
            self._raw_json = (self.data, bytes(raw))
        return self

    def mark_json_null(self) -> CloudEvent:
        """Record that the producer sent an explicit JSON ``null`` as data."""
        if self.data is None:
            self._json_null = True
        return self

    @property
    def has_data(self) -> bool:
        """Whether the event carries data (an explicit JSON ``null`` counts)."""
        return self.data is not None or self._json_null

    def raw_json_data(self) -> bytes | None:
        """The producer's JSON text of ``data``, when ``data`` is still what was parsed."""
        raw = self._raw_json
        return raw[1] if raw is not None and raw[0] is self.data else None

    def data_bytes(self) -> bytes | None:
        """The binary-mode body: the producer's JSON bytes where kept, else serialized."""
        if self.data is None:
            return b"null" if self._json_null else None
        raw = self.raw_json_data()
        if raw is not None:
            return raw
        return serialize_data(self.data, self.datacontenttype)

    def effective_content_type(self) -> str | None:
        """``datacontenttype``, or the ``application/json`` the JSON format implies for data.

        JSON format §3.1.2: re-serialised in another format or binding, an event whose JSON
        data had no ``datacontenttype`` SHOULD carry the implied type explicitly.
        """
        if self.datacontenttype is not None:
            return self.datacontenttype
        if self.has_data and not isinstance(self.data, bytes | bytearray):
            return "application/json"
        return None

    # -- JSON form ---------------------------------------------------------------------------

    def attributes(self) -> dict[str, Any]:
        """Context attributes and extensions as one flat mapping (no data)."""
        result: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
        }
        for name in attrs.OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                result[name] = value
        result.update(self.extensions)
        return result

    def to_json_dict(self) -> dict[str, Any]:
        """The structured JSON form: attributes at top level plus ``data`` or ``data_base64``.

        This is also the shape rule patterns match against.
        """
        result = self.attributes()
        if isinstance(self.data, bytes | bytearray):
            result["data_base64"] = base64.b64encode(self.data).decode("ascii")
        elif self.data is not None or self._json_null:
            result["data"] = self.data
        return result

    @classmethod
    def from_json_dict(cls, form: Mapping[str, Any]) -> CloudEvent:
        """Read the structured JSON form; raises InvalidEventError naming the problem."""
        if not isinstance(form, Mapping):
            raise InvalidEventError(
                f"a structured CloudEvent must be a JSON object, got {type(form).__name__}"
            )
        checked = attrs.check_attributes(
            {k: v for k, v in form.items() if k not in attrs.DATA_KEYS}
        )
        values: dict[str, Any] = {name: checked.get(name) for name in _FIELDS}
        values["data"] = data_from_json_form(form)
        values["extensions"] = {k: v for k, v in checked.items() if k not in attrs.CORE}
        event = cls.model_construct(**values)
        if values["data"] is None and "data" in form and form.get("data_base64") is None:
            event._json_null = True  # "data": null is a payload, not an absence (§3.1.1)
        return event

    def partition_key(self) -> str:
        """Kafka key: the ``partitionkey`` extension, else ``subject``, else ``source``."""
        key = self.extensions.get("partitionkey")
        if key is not None:
            return attrs.extension_header_text(key)
        return self.subject if self.subject is not None else self.source


def data_from_json_form(form: Mapping[str, Any]) -> Any:
    """``data`` of a structured JSON form, decoding ``data_base64`` into bytes."""
    has_data = form.get("data") is not None
    encoded = form.get("data_base64")
    if encoded is None:
        return form.get("data")
    if has_data:
        raise InvalidEventError("a CloudEvent must not carry both 'data' and 'data_base64'")
    if not isinstance(encoded, str):
        raise InvalidEventError("'data_base64' must be a base64 string")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEventError("'data_base64' is not valid base64") from None
