"""Fitting message text into platform size limits, visibly and byte-accurately.

WeCom counts content in UTF-8 bytes (2,048 for text, 4,096 for markdown), DingTalk and Feishu
limit the whole JSON request body (about 20 KB), Slack counts characters. A message over its
limit is never rejected silently: it is cut with a visible marker, or split into numbered
parts. Cuts never land inside a UTF-8 sequence, and markers count against the limit.

Sizes are measured by a ``measure`` function that must be additive over concatenation:
UTF-8 bytes (:func:`utf8_len`), characters (``len``) or JSON-escaped UTF-8 bytes
(:func:`json_len`, for limits on a serialized body, where ``"`` and newlines count double).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Literal

TRUNCATION_MARKER = "\n…[truncated by kbridge]"

Measure = Callable[[str], int]
Oversize = Literal["truncate", "split"]


def utf8_len(text: str) -> int:
    """Length of ``text`` in UTF-8 bytes."""
    return len(text.encode("utf-8"))


def json_len(text: str) -> int:
    """Bytes ``text`` takes inside a JSON string serialized with ``ensure_ascii=False``."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


def prefix(text: str, room: int, measure: Measure = utf8_len) -> str:
    """The longest prefix of ``text`` whose size is at most ``room``."""
    if room <= 0:
        return ""
    if measure(text) <= room:
        return text
    if measure is utf8_len:
        # errors="ignore" drops the partial code point at the cut.
        return text.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    lo, hi = 0, len(text)  # measure(text[:lo]) <= room < measure(text[:hi])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if measure(text[:mid]) <= room:
            lo = mid
        else:
            hi = mid
    return text[:lo]


def truncate(
    text: str, max_size: int, measure: Measure = utf8_len, marker: str = TRUNCATION_MARKER
) -> str:
    """``text`` unchanged if it fits, else a prefix plus ``marker``, all within ``max_size``."""
    if max_size < 0:
        raise ValueError(f"size limit exhausted by the message envelope ({max_size})")
    if measure(text) <= max_size:
        return text
    room = max_size - measure(marker)
    if room <= 0:
        return prefix(marker, max_size, measure)
    return prefix(text, room, measure) + marker


def _part_marker(index: int, total: int) -> str:
    return f"\n({index}/{total})"


def chunks(text: str, room: int, measure: Measure = utf8_len) -> list[str]:
    """Cut ``text`` into pieces of at most ``room``, breaking after a newline when one is near."""
    if room <= 0:
        raise ValueError("size limit too small to hold any text")
    parts: list[str] = []
    rest = text
    while rest:
        if measure(rest) <= room:
            parts.append(rest)
            break
        head = prefix(rest, room, measure) or rest[:1]
        newline = head.rfind("\n")
        if newline >= len(head) // 2:
            head = head[: newline + 1]
        parts.append(head)
        rest = rest[len(head) :]
    return parts


def split(text: str, max_size: int, measure: Measure = utf8_len) -> list[str]:
    """Split ``text`` into parts of at most ``max_size`` each, numbered ``(i/n)``.

    Text that fits comes back as one unnumbered part.
    """
    if measure(text) <= max_size:
        return [text]
    total = 2
    while True:
        # Size the markers for ``total`` digits; recount when the real count has more.
        room = max_size - measure(_part_marker(total, total))
        parts = chunks(text, room, measure)
        if len(str(len(parts))) <= len(str(total)):
            break
        total = len(parts)
    total = len(parts)
    return [part + _part_marker(i, total) for i, part in enumerate(parts, start=1)]


def fit_text(
    text: str, max_size: int, *, measure: Measure = utf8_len, oversize: Oversize = "truncate"
) -> list[str]:
    """``text`` as one truncated message or several numbered parts, each within ``max_size``."""
    if oversize == "split":
        return split(text, max_size, measure)
    return [truncate(text, max_size, measure)]
