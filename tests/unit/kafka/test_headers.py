"""processor.kafka.headers: the one dead-letter header builder and the one home of the names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from processor.kafka import headers as h

ROOT = Path(__file__).resolve().parents[3]


def test_original_headers_first_then_the_reason() -> None:
    original = [("ce_id", b"e1"), ("x-bin", b"\xff\x00"), ("mqtt-topic", "a/b"), ("empty", None)]
    built = h.dead_letter_headers(
        original, code="bad-input", message="cannot parse", stage="decode", bus="iot", source="s1"
    )
    # bytes untouched, str encoded, None as empty (Kafka headers carry bytes)
    assert built[:4] == [("ce_id", b"e1"), ("x-bin", b"\xff\x00"), ("mqtt-topic", b"a/b"),
                         ("empty", b"")]
    assert dict(built[4:]) == {
        "kbridge-bus": b"iot",
        "kbridge-source": b"s1",
        "kbridge-error-code": b"bad-input",
        "kbridge-error-message": b"cannot parse",
        "kbridge-failed-stage": b"decode",
    }


def test_a_second_trip_replaces_instead_of_stacking() -> None:
    first = h.dead_letter_headers(
        [("ce_id", b"e1"), ("kbridge-rule", b"r1")],
        code="transform-failed",
        message="old",
        stage="transform",
        bus="b",
        where="kbridge.bus.b[0]@7",
        rule="r1",
        target="t1",
    )
    assert first[1] == ("kbridge-rule", b"r1")  # a mark the original had stays in place
    again = h.dead_letter_headers(
        first, code="invalid-event", message="new", stage="decode", bus="b", where="x[1]@2"
    )
    names = [name for name, _ in again]
    assert len(names) == len(set(names)), names
    marks = dict(again)
    assert marks["kbridge-error-code"] == b"invalid-event"
    assert marks["kbridge-error-message"] == b"new"
    assert marks["kbridge-original-offset"] == b"x[1]@2"
    # marks not re-written this time are the record's own headers now: kept as they were
    assert marks["kbridge-rule"] == b"r1" and marks["kbridge-target"] == b"t1"
    assert h.strip_dead_letter_headers(again, marks=("kbridge-target",)) == [
        ("ce_id", b"e1"),
        ("kbridge-rule", b"r1"),
        ("kbridge-bus", b"b"),
    ]


def test_optional_headers_only_when_given() -> None:
    built = dict(
        h.dead_letter_headers(
            [],
            code="http-500",
            message="HTTP 500",
            stage="deliver",
            target="t",
            where="kbridge.target.t[0]@1",
            failed_at=1700000000.0,
            attempts=3,
            condition="attempts",
        )
    )
    assert set(built) == {
        "kbridge-error-code",
        "kbridge-error-message",
        "kbridge-failed-stage",
        "kbridge-target",
        "kbridge-original-offset",
        "kbridge-failed-at",
        "kbridge-attempts",
        "kbridge-exhausted-condition",
    }
    assert built["kbridge-failed-at"] == b"1700000000.000"


def test_one_message_cap_for_every_writer() -> None:
    assert h.error_message("a\nb \t c") == "a b c"
    long = h.error_message("磁" * 1000)  # 3 bytes per character
    assert len(long.encode()) <= h.MAX_ERROR_MESSAGE_BYTES == 1024
    assert long.endswith("...")
    built = dict(h.dead_letter_headers([], code="c", message="é" * 5000, stage="decode"))
    assert len(built["kbridge-error-message"]) <= 1024


def test_no_kbridge_header_literal_outside_the_headers_module() -> None:
    """Every writer and reader takes the names from processor/kafka/headers.py."""
    names = {
        value
        for key, value in vars(h).items()
        if key.isupper() and isinstance(value, str) and value.startswith("kbridge-")
    }
    assert {"kbridge-rule", "kbridge-original-offset", "kbridge-error-code"} <= names
    found = []
    for path in sorted((ROOT / "processor").rglob("*.py")):
        if path == ROOT / "processor" / "kafka" / "headers.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not found, "use processor.kafka.headers instead of:\n" + "\n".join(found)


def test_the_documented_table_is_the_module_constants() -> None:
    """docs/connectors.md's dead-letter table lists exactly the sets headers.py declares."""
    text = (ROOT / "docs" / "connectors.md").read_text()
    rows: dict[str, set[str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`kbridge.") and "dlq" in cells[0]:
            rows[cells[1]] = set(re.findall(r"`(kbridge-[a-z-]+)`", cells[2]))
    expected = {
        "router: event not decodable": h.BUS_DEAD_LETTER["router-decode"],
        "router: transformation failed, or the egress topic refused the record": (
            h.BUS_DEAD_LETTER["router-transform"] | h.BUS_DEAD_LETTER["router-produce"]
        ),
        "Kafka source: input not convertible": h.BUS_DEAD_LETTER["kafka-source"],
        "MQTT, AMQP or NATS source: input not convertible": h.BUS_DEAD_LETTER["source"],
        "sink worker gave up": h.TARGET_DEAD_LETTER,
    }
    assert rows == expected
