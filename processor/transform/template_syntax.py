"""Parse an input template once into literal text and holes.

Why a parser and not string replacement at apply time: AWS's rules depend on *where* a
placeholder stands. In a JSON template a placeholder standing as a value (``<x>``) is
replaced by the variable as JSON, one quoted as a whole string (``"<x>"``) too unless the
variable is an object or array (EventBridge does not deliver that), one inside a longer
string (``"id <x>"``) by the value's text (objects and arrays in EventBridge's unquoted
form), JSON-escaped, and one used as an object key is an error. Knowing the
position of every hole at compile time makes the rendered output valid JSON by construction
(each hole is filled by an encoder) and lets the config be rejected before any event flows.

A template is JSON when, without surrounding whitespace, it starts with ``{`` or ``[`` (it
must then parse, or the spec is rejected), or when it is exactly one JSON string literal
(``"instance <x> is up"``). Anything else is a text template. JSON output is compacted:
whitespace between tokens is dropped, string literals are re-encoded (so a literal newline
typed inside a string in YAML comes out as ``\\n``).
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Final

from processor.transform.base import dumps
from processor.transform.errors import TransformSpecError

PLACEHOLDER: Final = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WS: Final = " \t\n\r"
_MAX_DEPTH: Final = 64


class Mode(enum.Enum):
    """How a hole is filled."""

    VALUE = "value"  # a JSON value position (<x>): the variable as JSON, missing -> ""
    QUOTED = "quoted"  # a whole JSON string ("<x>"): a scalar as JSON, an object/array refused
    IN_STRING = "in-string"  # inside a JSON string: the value's text, JSON-escaped, no quotes
    TEXT = "text"  # a text template: the value's text, missing -> ""


@dataclass(frozen=True, slots=True)
class Hole:
    """One placeholder occurrence."""

    name: str
    mode: Mode


@dataclass(frozen=True, slots=True)
class ParsedTemplate:
    """Literal text and holes in output order; adjacent literals are merged."""

    is_json: bool
    parts: tuple[str | Hole, ...]

    @property
    def holes(self) -> tuple[Hole, ...]:
        return tuple(p for p in self.parts if isinstance(p, Hole))


class _NotJson(Exception):
    """Internal: the text is not a JSON template (carries the reason for JSON-looking ones)."""


def _merge(parts: list[str | Hole]) -> tuple[str | Hole, ...]:
    merged: list[str | Hole] = []
    for part in parts:
        if isinstance(part, str):
            if not part:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] = merged[-1] + part
                continue
        merged.append(part)
    return tuple(merged)


def _reencode(raw: str, pos: int) -> str:
    """Re-encode the raw body of a JSON string piece (escapes resolved, output escaped)."""
    try:
        decoded = json.loads(f'"{raw}"', strict=False)
    except json.JSONDecodeError as exc:
        raise _NotJson(f"invalid string content near position {pos}: {exc.msg}") from exc
    try:
        return dumps(decoded)[1:-1]
    except TypeError as exc:  # an escaped lone surrogate such as \ud800
        raise _NotJson(f"string near position {pos} is not valid Unicode") from exc


class _JsonTemplateParser:
    """Recursive descent over JSON with ``<placeholder>`` tokens; emits compact parts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.parts: list[str | Hole] = []

    def parse(self) -> ParsedTemplate:
        self._ws()
        self._value(depth=0)
        self._ws()
        if self.pos != len(self.text):
            raise _NotJson(f"unexpected {self.text[self.pos]!r} at position {self.pos}")
        return ParsedTemplate(is_json=True, parts=_merge(self.parts))

    def _ws(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _WS:
            pos += 1
        self.pos = pos

    def _expect(self, char: str) -> None:
        self._ws()
        if self.pos >= len(self.text) or self.text[self.pos] != char:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"
            raise _NotJson(f"expected {char!r} at position {self.pos}, found {found}")
        self.pos += 1

    def _value(self, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _NotJson(f"nesting deeper than {_MAX_DEPTH} levels")
        self._ws()
        if self.pos >= len(self.text):
            raise _NotJson("unexpected end, expected a value")
        ch = self.text[self.pos]
        if ch == "{":
            self._object(depth)
        elif ch == "[":
            self._array(depth)
        elif ch == '"':
            self._string_value()
        elif ch == "<":
            m = PLACEHOLDER.match(self.text, self.pos)
            if m is None:
                raise _NotJson(f"'<' at position {self.pos} does not start a placeholder")
            self.parts.append(Hole(m.group(1), Mode.VALUE))
            self.pos = m.end()
        else:
            self._literal()

    def _object(self, depth: int) -> None:
        self.pos += 1
        self.parts.append("{")
        self._ws()
        if self.text.startswith("}", self.pos):
            self.pos += 1
            self.parts.append("}")
            return
        while True:
            self._ws()
            self._key()
            self._expect(":")
            self.parts.append(":")
            self._value(depth + 1)
            self._ws()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                self.parts.append(",")
                continue
            self._expect("}")
            self.parts.append("}")
            return

    def _array(self, depth: int) -> None:
        self.pos += 1
        self.parts.append("[")
        self._ws()
        if self.text.startswith("]", self.pos):
            self.pos += 1
            self.parts.append("]")
            return
        while True:
            self._value(depth + 1)
            self._ws()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                self.parts.append(",")
                continue
            self._expect("]")
            self.parts.append("]")
            return

    def _raw_string(self) -> str:
        """Consume a string literal at ``pos``; return its raw (still escaped) body."""
        text = self.text
        start = self.pos + 1
        i = start
        while i < len(text):
            ch = text[i]
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                self.pos = i + 1
                return text[start:i]
            i += 1
        raise _NotJson(f"unterminated string starting at position {self.pos}")

    def _key(self) -> None:
        if self.pos >= len(self.text):
            raise _NotJson("unexpected end, expected an object key")
        if self.text[self.pos] == "<" and (m := PLACEHOLDER.match(self.text, self.pos)):
            raise _PlaceholderAsKey(m.group(1))
        if self.text[self.pos] != '"':
            raise _NotJson(f"expected an object key string at position {self.pos}")
        start = self.pos
        raw = self._raw_string()
        if (m := PLACEHOLDER.search(raw)) is not None:
            raise _PlaceholderAsKey(m.group(1))
        self.parts.append(f'"{_reencode(raw, start)}"')

    def _string_value(self) -> None:
        start = self.pos
        raw = self._raw_string()
        whole = PLACEHOLDER.fullmatch(raw)
        if whole is not None:
            self.parts.append(Hole(whole.group(1), Mode.QUOTED))
            return
        self.parts.append('"')
        last = 0
        for m in PLACEHOLDER.finditer(raw):
            self.parts.append(_reencode(raw[last : m.start()], start))
            self.parts.append(Hole(m.group(1), Mode.IN_STRING))
            last = m.end()
        self.parts.append(_reencode(raw[last:], start))
        self.parts.append('"')

    def _literal(self) -> None:
        text = self.text
        for word in ("true", "false", "null"):
            if text.startswith(word, self.pos):
                self.parts.append(word)
                self.pos += len(word)
                return
        m = _NUMBER.match(text, self.pos)
        if m is None:
            raise _NotJson(f"unexpected {text[self.pos]!r} at position {self.pos}")
        self.parts.append(m.group())
        self.pos = m.end()


class _PlaceholderAsKey(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _parse_text(template: str) -> ParsedTemplate:
    parts: list[str | Hole] = []
    last = 0
    for m in PLACEHOLDER.finditer(template):
        parts.append(template[last : m.start()])
        parts.append(Hole(m.group(1), Mode.TEXT))
        last = m.end()
    parts.append(template[last:])
    return ParsedTemplate(is_json=False, parts=_merge(parts))


def parse_template(template: str) -> ParsedTemplate:
    """Split ``template`` into parts; raises :class:`TransformSpecError` on broken JSON."""
    stripped = template.strip(_WS)
    head = stripped[:1]
    if head in ("{", "[", '"'):
        try:
            return _JsonTemplateParser(stripped).parse()
        except _PlaceholderAsKey as exc:
            raise TransformSpecError(
                f"input_template uses placeholder {exc.name} as an object key, "
                "which JSON templates do not allow"
            ) from None
        except _NotJson as exc:
            if head != '"':
                raise TransformSpecError(
                    f"input_template starts like JSON but is not valid JSON: {exc}"
                ) from None
            # A text template that merely starts with a quote, e.g. '"Hi" <name>'.
    return _parse_text(template)
