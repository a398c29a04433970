"""CloudEvents 1.0, kbridge's canonical event, and its Kafka protocol binding.

Public API::

    from processor.events import CloudEvent, KafkaRecord, encode, decode, decode_json_form
    record = encode(event, "binary")            # or "structured", "avro"
    event = decode(record.value, record.headers)   # raises InvalidEventError
    form = decode_json_form(value, headers)     # dict, the router's hot path
"""

from __future__ import annotations

from processor.errors import InvalidEventError
from processor.events.kafka import KafkaRecord, Mode, decode, decode_json_form, encode
from processor.events.model import CloudEvent

__all__ = [
    "CloudEvent",
    "InvalidEventError",
    "KafkaRecord",
    "Mode",
    "decode",
    "decode_json_form",
    "encode",
]
