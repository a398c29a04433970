"""Dead-letter headers and ``--since`` parsing."""

from __future__ import annotations

import pytest

from processor.errors import BackpressureError, KbridgeError
from processor.sinks.base import Delivery
from processor.sinks.deadletter import DeadLetter, error_message, strip_dead_letter_headers
from processor.sinks.dlq import parse_since


def _letter(raw: list[tuple[str, bytes]]) -> DeadLetter:
    delivery = Delivery(
        value=b"v",
        headers={k: v.decode("utf-8", "replace") for k, v in raw},
        raw_headers=raw,
        topic="kbridge.target.t",
        partition=2,
        offset=41,
    )
    return DeadLetter(delivery, BackpressureError("429 again", code="http-429"), "age", 7)


def test_headers_keep_originals_and_add_the_reason() -> None:
    raw = [("ce_id", b"e1"), ("kbridge-rule", b"r9"), ("x-bin", b"\xff\x00")]
    headers = _letter(raw).headers("t", 1700000000.0)
    assert headers[:3] == raw  # original headers first, bytes untouched
    added = {k: v.decode() for k, v in headers[3:]}
    assert added == {
        "kbridge-error-code": "http-429",
        "kbridge-error-message": "429 again",
        "kbridge-failed-stage": "deliver",
        "kbridge-exhausted-condition": "age",
        "kbridge-attempts": "7",
        "kbridge-target": "t",
        "kbridge-failed-at": "1700000000.000",
        "kbridge-original-offset": "kbridge.target.t[2]@41",
    }


def test_second_trip_replaces_stale_error_headers_and_redrive_strips_them() -> None:
    raw = [("ce_id", b"e1"), ("kbridge-rule", b"r"), ("kbridge-error-code", b"old")]
    headers = _letter(raw).headers("t", 0.0)
    assert [v for k, v in headers if k == "kbridge-error-code"] == [b"http-429"]
    assert strip_dead_letter_headers(headers) == [("ce_id", b"e1"), ("kbridge-rule", b"r")]


def test_rule_header_added_when_missing_and_messages_bounded() -> None:
    headers = dict(_letter([("ce_id", b"e")]).headers("t", 0.0))
    assert headers["kbridge-rule"] == b""
    assert error_message(ValueError("a\nb   c")) == "a b c"
    assert len(error_message(ValueError("é" * 5000)).encode()) <= 1024


def test_parse_since() -> None:
    assert parse_since("90m", now=10_000.0) == 10_000.0 - 5400
    assert parse_since("2023-11-14T22:13:20Z") == 1_700_000_000.0
    with pytest.raises(KbridgeError):
        parse_since("yesterday-ish")
