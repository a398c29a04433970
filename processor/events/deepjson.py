"""Compact JSON of any nesting depth: orjson, and an explicit-stack encoder past its limit.

orjson refuses to serialise values nested deeper than 254 levels ("Recursion limit
reached"), yet PutEvents accepts 1000 levels (AWS: "PutEvents will only process nested JSON
up to 1000 levels deep", https://docs.aws.amazon.com/eventbridge/latest/APIReference/
API_PutEvents.html) and the router, transforms and sinks must carry such an event instead of
dead-lettering it. :func:`dumps` is orjson's output for every value orjson accepts (the fast
path) and the same compact text, built without recursion, for deeper ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

Default = Callable[[Any], Any] | None
_SCALARS = frozenset({str, int, float, bool, type(None)})


class _Literal:
    """Bytes to emit as they are (a separator or bracket), not a value to encode."""

    __slots__ = ("text",)

    def __init__(self, text: bytes) -> None:
        self.text = text


_CLOSE_OBJECT = _Literal(b"}")
_CLOSE_ARRAY = _Literal(b"]")
_COMMA = _Literal(b",")
_OPEN_ARRAY = _Literal(b"[")


def dumps(value: Any, default: Default = None) -> bytes:
    """orjson.dumps(value, default=default), also for values nested over 254 levels."""
    try:
        return orjson.dumps(value, default=default)
    except orjson.JSONEncodeError as exc:
        if "Recursion limit" not in str(exc):
            raise
    return _dumps_deep(value, default)


def _dumps_deep(value: Any, default: Default) -> bytes:
    out: list[bytes] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is _Literal:
            out.append(item.text)
        elif kind is dict:
            if not item:
                out.append(b"{}")
                continue
            stack.append(_CLOSE_OBJECT)
            entries = list(item.items())
            for index in range(len(entries) - 1, -1, -1):
                key, member = entries[index]
                if type(key) is not str:
                    raise orjson.JSONEncodeError("Dict key must be str")
                stack.append(member)
                stack.append(_Literal((b"," if index else b"{") + orjson.dumps(key) + b":"))
        elif kind is list:
            if not item:
                out.append(b"[]")
                continue
            stack.append(_CLOSE_ARRAY)
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(_COMMA)
            stack.append(_OPEN_ARRAY)
        elif kind in _SCALARS:
            out.append(orjson.dumps(item))
        elif isinstance(item, dict):
            stack.append(dict(item))
        elif isinstance(item, list):
            stack.append(list(item))
        elif default is not None and isinstance(item, Mapping | tuple | set | frozenset):
            stack.append(default(item))  # converted containers may hold deep values too
        else:
            out.append(orjson.dumps(item, default=default))
    return b"".join(out)


def deep_aws_text(value: Any) -> str:
    """EventBridge's unquoted text of an object or array (``{a:1,b:[x]}``), any depth.

    The input transformer writes a container placed inside a string this way; the
    transform's recursive renderer falls back to this one past the interpreter's stack.
    """
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is _Literal:
            out.append(item.text.decode())
        elif isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping):
            stack.append(_Literal(b"}"))
            entries = list(item.items())
            for index in range(len(entries) - 1, -1, -1):
                key, member = entries[index]
                stack.append(member)
                prefix = ("," if index else "{") + f"{key}:"
                stack.append(_Literal(prefix.encode()))
            if not entries:
                stack.append(_Literal(b"{"))
        elif isinstance(item, list | tuple):
            stack.append(_CLOSE_ARRAY)
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(_COMMA)
            stack.append(_OPEN_ARRAY)
        else:
            out.append(orjson.dumps(item, default=_as_list).decode())
    return "".join(out)


def _as_list(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
