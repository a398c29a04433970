"""CloudEvents HTTP binary mode straight to a Kafka binary-mode record (the hot path).

Why: a single-event binary request spent about 40% of its event-loop CPU building a
:class:`~processor.events.CloudEvent` (header mapping, attribute checks, pydantic model,
copy) and encoding it back into headers. Binary mode in, binary mode out is a renaming of
``ce-*`` headers into ``ce_*`` headers, so :func:`binary_record` does exactly that with the
same checks: the same header decoding (:func:`processor.events.http.decode_header_value`),
the same attribute validation (:func:`processor.events.attributes.check_attributes`), the
same data rule for JSON content types (the body must parse; it is sent as it came), the
same header order, content type and Kafka key as ``encode(binary_event(...))``.

Anything off that common shape (no or a non-JSON content type, an empty or ``null`` body,
``ce-data``/``ce-data_base64`` headers) returns ``None`` and takes the model path, whose
rules (text, bytes, explicit null) this module does not repeat.
"""

from __future__ import annotations

from collections.abc import Iterable

from processor.events import attributes as attrs
from processor.events.content import is_json_type, parse_data
from processor.events.http import decode_header_value
from processor.gateway.publisher import EncodedEvent

_CE = b"ce-"
_CONTENT_TYPE = b"content-type"
_KAFKA_NAMES = {name: "ce_" + name for name in attrs.CORE}
"""Kafka header names of the core attributes, built once (extensions: per record)."""
_text = attrs.extension_header_text


def binary_record(headers: Iterable[tuple[bytes, bytes]], body: bytes) -> EncodedEvent | None:
    """The Kafka record of a binary-mode request, or None to take the model path.

    ``headers`` are the ASGI request headers (lower-case names, latin-1 bytes). Raises
    :class:`~processor.errors.InvalidEventError` naming the problem, as the model path does.
    """
    attributes: dict[str, str] = {}
    content_type: str | None = None
    for raw_name, value in headers:
        name = raw_name.lower()  # ASGI servers send lower-case names; a test client may not
        if name[:3] == _CE:
            text_name = name.decode("latin-1")
            attributes[text_name[3:]] = decode_header_value(text_name, value.decode("latin-1"))
        elif name == _CONTENT_TYPE and content_type is None:
            content_type = value.decode("latin-1")
    if (
        not body
        or not content_type
        or "specversion" not in attributes
        or not is_json_type(content_type)
        or not attrs.DATA_KEYS.isdisjoint(attributes)
    ):
        return None
    if parse_data(body, content_type) is None:  # raises when the body is not JSON
        return None  # an explicit JSON null: the model path keeps it
    attributes["datacontenttype"] = content_type
    checked = attrs.check_attributes(attributes)
    del checked["datacontenttype"]  # sent as the record's content-type header
    out = [  # header values are text already: the conversion only for a checked non-str
        (
            _KAFKA_NAMES.get(name) or "ce_" + name,
            (value if type(value) is str else _text(value)).encode(),
        )
        for name, value in checked.items()
    ]
    out.append(("content-type", content_type.encode()))
    partition_key = checked.get("partitionkey")
    if partition_key is not None:
        key: str = _text(partition_key)
    else:
        subject = checked.get("subject")
        key = subject if subject is not None else checked["source"]
    return checked["id"], key.encode(), bytes(body), out
