"""Byte-accurate truncation and splitting."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.sinks.im.textlimit import (
    TRUNCATION_MARKER,
    fit_text,
    json_len,
    prefix,
    split,
    truncate,
    utf8_len,
)

MEASURES = [utf8_len, len, json_len]


def test_truncate_keeps_fitting_text_unchanged() -> None:
    assert truncate("告警", 6) == "告警"


def test_truncate_never_cuts_inside_a_utf8_sequence() -> None:
    text = "磁盘" * 1000  # 3 bytes per character
    out = truncate(text, 100)
    assert utf8_len(out) <= 100
    assert out.endswith(TRUNCATION_MARKER)
    body = out.removesuffix(TRUNCATION_MARKER)
    assert body == "磁盘" * (len(body) // 2) + ("磁" if len(body) % 2 else "")
    # As long as possible: one more character would not fit.
    assert utf8_len(body) + 3 + utf8_len(TRUNCATION_MARKER) > 100


def test_json_len_counts_escapes() -> None:
    assert json_len('a"b\n') == len('a\\"b\\n')
    assert json_len("é") == 2


def test_prefix_by_json_measure() -> None:
    text = '"' * 50
    assert prefix(text, 11, json_len) == '"' * 5


def test_split_numbers_parts_and_prefers_newlines() -> None:
    lines = [f"line {i:03d} " + "x" * 20 for i in range(40)]
    text = "\n".join(lines)
    parts = split(text, 300)
    assert len(parts) > 1
    assert all(utf8_len(p) <= 300 for p in parts)
    for i, part in enumerate(parts, start=1):
        assert part.endswith(f"\n({i}/{len(parts)})")
    bodies = [p.rsplit("\n(", 1)[0] for p in parts]
    assert "".join(bodies) == text
    assert all(b.endswith("\n") for b in bodies[:-1])


def test_split_returns_fitting_text_unnumbered() -> None:
    assert split("short", 100) == ["short"]


def test_fit_text_modes() -> None:
    text = "ab" * 100
    assert fit_text(text, 50, oversize="truncate") == [truncate(text, 50)]
    assert len(fit_text(text, 50, oversize="split")) > 1


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(min_size=0, max_size=600),
    limit=st.integers(min_value=30, max_value=400),
    measure_index=st.integers(min_value=0, max_value=2),
)
def test_split_parts_fit_and_reassemble(text: str, limit: int, measure_index: int) -> None:
    measure = MEASURES[measure_index]
    parts = split(text, limit, measure)
    assert all(measure(p) <= limit for p in parts)
    if len(parts) == 1:
        assert parts == [text]
    else:
        assert "".join(p.rsplit("\n(", 1)[0] for p in parts) == text


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=600), limit=st.integers(min_value=0, max_value=400))
def test_truncate_fits_and_is_a_prefix(text: str, limit: int) -> None:
    out = truncate(text, limit, json_len)
    assert json_len(out) <= limit
    if out != text and json_len(TRUNCATION_MARKER) <= limit:
        assert out.endswith(TRUNCATION_MARKER)
        assert text.startswith(out.removesuffix(TRUNCATION_MARKER))
    # What we measured is what a JSON body will carry.
    assert len(json.dumps(out, ensure_ascii=False).encode()) - 2 == json_len(out)


def test_split_rejects_absurd_limits() -> None:
    with pytest.raises(ValueError):
        split("x" * 100, 5)
