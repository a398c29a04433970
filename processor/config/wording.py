"""Pydantic's validation errors in plain words, with the nearest valid key or value.

pydantic says ``Input should be a valid dictionary or instance of RuleTarget`` for
``targets: [t1]``; a kbridge.yaml author needs ``expected a mapping (key: value pairs),
got the text 't1'``. This module rewrites each error from its type and context, and for an
unknown key or value suggests the closest valid one (``partitons`` -> ``partitions``).
The valid keys come from walking the models along the error's location.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

_INSTANCE_OF = re.compile(r" or instance of \w+")
_TYPE_WORDS = {
    "dict_type": "a mapping (key: value pairs)",
    "model_type": "a mapping (key: value pairs)",
    "model_attributes_type": "a mapping (key: value pairs)",
    "list_type": "a list",
    "tuple_type": "a list",
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def suggest(word: str, choices: Iterable[str]) -> str:
    """``did you mean 'x'? `` when a choice is close to ``word``, else an empty string."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def describe_value(value: Any) -> str:
    """A short plain description of a value: ``the text 't1'``, ``a list``, ``the number 3``."""
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return type(value).__name__


def _unwrap(tp: Any) -> list[Any]:
    """The concrete alternatives of an annotation (Annotated and Optional removed)."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        found: list[Any] = []
        for arg in get_args(tp):
            if arg is not type(None):
                found.extend(_unwrap(arg))
        return found
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _kind_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("kind")
    return field.default if field is not None and isinstance(field.default, str) else None


def models_at(root: type[BaseModel], loc: Sequence[int | str], raw: Any) -> list[type[BaseModel]]:
    """The model(s) whose keys are valid at ``loc`` (a pydantic location), walking from
    ``root`` through lists, optionals and kind-discriminated unions."""
    current: list[Any] = [root]
    node = raw
    index = 0
    while index < len(loc):
        part = loc[index]
        alternatives = [alt for tp in current for alt in _unwrap(tp)]
        models = [alt for alt in alternatives if _is_model(alt)]
        if isinstance(part, int):
            items = [
                get_args(alt)[0]
                for alt in alternatives
                if get_origin(alt) in (list, tuple) and get_args(alt)
            ]
            current = items
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            index += 1
            continue
        if len(models) > 1:
            kind = node.get("kind") if isinstance(node, dict) else None
            tagged = [m for m in models if _kind_of(m) == part]
            if tagged:  # the discriminator tag pydantic inserts in the location
                current = tagged
                index += 1
                continue
            chosen = [m for m in models if _kind_of(m) == kind] or models
            models = chosen
        nxt = [m.model_fields[part].annotation for m in models if part in m.model_fields]
        if not nxt:
            return []
        current = nxt
        node = node.get(part) if isinstance(node, dict) else None
        index += 1
    return [alt for tp in current for alt in _unwrap(tp) if _is_model(alt)]


def _literal_values(models: Sequence[type[BaseModel]], key: str) -> list[str]:
    values: list[str] = []
    for model in models:
        field = model.model_fields.get(key)
        if field is None:
            continue
        for alt in _unwrap(field.annotation):
            if get_origin(alt) is Literal:
                values.extend(str(v) for v in get_args(alt))
    return values


def plain_message(error: ErrorDetails, root: type[BaseModel], raw: Any) -> str:
    """One pydantic error in plain words, with a suggestion where one helps."""
    kind = error["type"]
    loc = tuple(error["loc"])
    value = error.get("input")
    ctx = error.get("ctx") or {}
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        models = models_at(root, loc[:-1], raw)
        valid = sorted({name for m in models for name in m.model_fields})
        hint = suggest(key, valid)
        listing = f"valid keys: {', '.join(valid)}" if valid else "no keys are allowed here"
        return f"unknown key {key!r} ({hint}{listing})"
    if kind == "missing" and loc:
        return f"required key {str(loc[-1])!r} is missing"
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        choices = re.findall(r"'([^']*)'", expected)
        hint = suggest(str(value), choices) if isinstance(value, str) else ""
        return f"expected one of {', '.join(choices) or expected}, got {describe_value(value)}" + (
            f" ({hint.strip()})" if hint else ""
        )
    if kind == "union_tag_not_found":
        kinds = sorted({k for m in models_at(root, loc, raw) if (k := _kind_of(m))})
        return f"required key 'kind' is missing (kinds: {', '.join(kinds)})"
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag", value))
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        hint = suggest(tag, choices)
        return f"unknown kind {tag!r} ({hint}kinds: {', '.join(choices)})"
    if kind in _TYPE_WORDS:
        text = f"expected {_TYPE_WORDS[kind]}, got {describe_value(value)}"
        models = models_at(root, loc, raw)
        if kind in ("model_type", "dict_type") and isinstance(value, str) and len(models) == 1:
            required = [name for name, info in models[0].model_fields.items() if info.is_required()]
            if required:  # ``targets: [t1]`` means ``targets: [{target: t1}]``
                text += f" (write {{{required[0]}: {value}}})"
        return text
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{message.replace('Input should be', 'must be')}, got {value!r}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items, got {ctx.get('actual_length')}"
    return _INSTANCE_OF.sub("", message).replace("Input should", "must")
