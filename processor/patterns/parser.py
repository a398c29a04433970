"""Pattern text or mapping -> validated :class:`CompiledPattern`, with AWS's errors.

Checking and compiling are one walk over the pattern: every operand is validated where it
is read, and the first problem raises :class:`PatternError` naming the field path. The
reasons are event-ruler's / EventBridge's own sentences so that users recognise them.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from processor.patterns.cidr import parse_cidr
from processor.patterns.errors import PatternError
from processor.patterns.model import (
    Clause,
    CompiledPattern,
    ExactKey,
    Matcher,
    MatchKind,
    NumericRange,
    SubRule,
)
from processor.patterns.values import exact_key, fold, number_key
from processor.patterns.wildcard import parse_wildcard

MAX_SUB_RULES = 1024
"""Cap on the ``$or`` expansion of one pattern: beyond it a pattern costs more than it helps."""

_INF = math.inf
_LOWER_OPS = {">": False, ">=": True}
_UPPER_OPS = {"<": False, "<=": True}


def parse_pattern(pattern: str | bytes | Mapping[str, Any]) -> CompiledPattern:
    """Validate and compile one event pattern."""
    if isinstance(pattern, str | bytes | bytearray):
        source = pattern.decode() if isinstance(pattern, bytes | bytearray) else pattern
        try:
            document = json.loads(source, parse_constant=_reject_constant, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:
            raise PatternError(f"Pattern is not valid JSON: {exc}") from None
    elif isinstance(pattern, Mapping):
        document = pattern
        source = json.dumps(pattern, default=str)
    else:
        raise PatternError("Filter is not an object")
    if not isinstance(document, Mapping):
        raise PatternError("Filter is not an object")
    alternatives = _parse_object(document, "")
    sub_rules = tuple(SubRule(clauses=tuple(a)) for a in alternatives)
    return CompiledPattern(sub_rules=sub_rules, source=source)


def _reject_constant(name: str) -> float:
    raise ValueError(f"Non-standard token '{name}'")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _parse_object(obj: Mapping[str, Any], prefix: str) -> list[list[Clause]]:
    """Alternatives (lists of clauses) that an object of the pattern stands for."""
    if not obj:
        raise PatternError("Empty objects are not allowed", prefix)
    alternatives: list[list[Clause]] = [[]]
    for key, value in obj.items():
        if not isinstance(key, str):
            raise PatternError("Filter is not an object", prefix)
        if key == "$or":
            branches = _parse_or(value, prefix)
        else:
            path = _join(prefix, key)
            if isinstance(value, Mapping):
                branches = _parse_object(value, path)
            elif isinstance(value, list):
                branches = [[_parse_match_list(value, path)]]
            else:
                raise PatternError(f'"{key}" must be an object or an array', path)
        if len(alternatives) * len(branches) > MAX_SUB_RULES:
            raise PatternError(
                f"Too many combinations of $or branches (more than {MAX_SUB_RULES})", prefix
            )
        alternatives = [_merge(a, b) for a, b in itertools.product(alternatives, branches)]
    return alternatives


def _merge(earlier: list[Clause], later: list[Clause]) -> list[Clause]:
    """AND two clause lists; a later clause on the same path replaces the earlier one.

    That is event-ruler's (and so EventBridge's) reading of a path given twice, e.g. as
    ``"a.b"`` and as ``"a": {"b": ...}``, or once outside and once inside ``$or``.
    """
    replaced = {c.path for c in later}
    return [c for c in earlier if c.path not in replaced] + later


def _parse_or(branches: Any, prefix: str) -> list[list[Clause]]:
    path = _join(prefix, "$or")
    if not isinstance(branches, list):
        raise PatternError("It must be an Array followed with $or.", path)
    if len(branches) < 2:
        raise PatternError("There must have at least 2 Objects in $or relationship.", path)
    out: list[list[Clause]] = []
    for branch in branches:
        if not isinstance(branch, Mapping):
            raise PatternError("Only JSON object is allowed in array of $or relationship.", path)
        out.extend(_parse_object(branch, prefix))
    return out


def _parse_match_list(values: list[Any], path: str) -> Clause:
    if not values:
        raise PatternError("Empty arrays are not allowed", path)
    matchers: list[Matcher] = []
    for v in values:
        if isinstance(v, Mapping):
            matchers.append(_parse_match_expression(v, path))
        elif isinstance(v, list):
            raise PatternError("Match value must be String, number, true, false, or null", path)
        else:
            matchers.append(Matcher(MatchKind.EXACT, _leaf_key(v, path)))
    return Clause(path=path, matchers=tuple(dict.fromkeys(matchers)))


def _leaf_key(v: Any, path: str) -> ExactKey:
    if isinstance(v, Decimal):
        return number_key(float(v))
    if v is None or isinstance(v, str | bool | int | float):
        return exact_key(v)
    raise PatternError("Match value must be String, number, true, false, or null", path)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | Decimal) and not isinstance(v, bool)


def _comparable(v: int | float | Decimal, path: str) -> float:
    """The double of a number used in a comparison; AWS refuses ones a double cannot hold.

    A bound or anything-but number must survive the trip through a double unchanged
    (``9007199254740993`` and ``2**63`` do not), otherwise EventBridge answers "Cannot
    compare number". The test is "the shortest decimal form of the double has the same
    value"; event-ruler uses Java's ``Double.toString``, which prints a few doubles with
    more digits than needed (``5e-324`` as ``4.9E-324``), so for those rare numbers the two
    may differ (the differential tests check that every such difference is one of those).
    """
    try:
        x = float(v)
    except OverflowError:
        x = math.inf
    # A float from a mapping has no source text: its shortest form stands for it.
    exact = v if isinstance(v, Decimal) else Decimal(repr(v) if isinstance(v, float) else v)
    if not math.isfinite(x) or Decimal(repr(x)) != exact:
        raise PatternError(f"Cannot compare number : {v}", path)
    return x


def _parse_match_expression(expr: Mapping[str, Any], path: str) -> Matcher:
    """One operator object. Like event-ruler's streaming parser, the first key and its
    operand are checked before any extra key, so the reason names the first problem."""
    if not expr:
        raise PatternError("Match expression name not found", path)
    op, operand = next(iter(expr.items()))
    parser = _OPERATORS.get(op)
    if parser is None:
        raise PatternError(f"Unrecognized match type {op}", path)
    matcher: Matcher = parser(operand, path)
    if len(expr) > 1:
        raise PatternError(_extra_key_reason(matcher), path)
    return matcher


_ONE_KEY = "Only one key allowed in match expression"
_TOO_MANY = "Too many elements in numeric expression"


def _extra_key_reason(matcher: Matcher) -> str:
    """event-ruler's (and so EventBridge's) reason for a second key after a valid operand:
    its numeric and anything-but parsers share the numeric wording, except anything-but
    prefix/suffix, which its parser reads like the other string operators."""
    if matcher.kind in _TOO_MANY_KINDS:
        return _TOO_MANY
    return _ONE_KEY


_TOO_MANY_KINDS = frozenset(
    {
        MatchKind.NUMERIC,
        MatchKind.ANYTHING_BUT,
        MatchKind.ANYTHING_BUT_IC,
        MatchKind.ANYTHING_BUT_WILDCARD,
    }
)


def _exactly(operand: Any, path: str) -> Matcher:
    if not isinstance(operand, str):
        raise PatternError("exact match pattern must be a string", path)
    return Matcher(MatchKind.EXACT, operand)


def _prefix_or_suffix(name: str, kind: MatchKind, ic_kind: MatchKind) -> Any:
    def parse(operand: Any, path: str) -> Matcher:
        if isinstance(operand, str):
            return Matcher(kind, operand)
        if isinstance(operand, Mapping):
            if not operand:
                raise PatternError(f"{name.capitalize()} expression name not found", path)
            op, inner = next(iter(operand.items()))
            if op != "equals-ignore-case":
                raise PatternError(f"Unsupported {name} pattern: {op}", path)
            if not isinstance(inner, str):
                raise PatternError("equals-ignore-case match pattern must be a string", path)
            if len(operand) > 1:
                raise PatternError(_ONE_KEY, path)
            return Matcher(ic_kind, fold(inner))
        raise PatternError(f"{name} match pattern must be a string", path)

    return parse


def _equals_ignore_case(operand: Any, path: str) -> Matcher:
    if not isinstance(operand, str):
        raise PatternError("equals-ignore-case match pattern must be a string", path)
    return Matcher(MatchKind.EQUALS_IC, fold(operand))


def _wildcard(operand: Any, path: str) -> Matcher:
    if not isinstance(operand, str):
        raise PatternError("wildcard match pattern must be a string", path)
    return Matcher(MatchKind.WILDCARD, parse_wildcard(operand, path))


def _exists(operand: Any, path: str) -> Matcher:
    if operand is True:
        return Matcher(MatchKind.EXISTS)
    if operand is False:
        return Matcher(MatchKind.ABSENT)
    raise PatternError("exists match pattern must be either true or false.", path)


def _cidr(operand: Any, path: str) -> Matcher:
    if not isinstance(operand, str):
        # AWS's own wording for this case, although the operator is not a prefix.
        raise PatternError("prefix match pattern must be a string", path)
    return Matcher(MatchKind.CIDR, parse_cidr(operand, path))


def _numeric(operand: Any, path: str) -> Matcher:
    if not isinstance(operand, list):
        raise PatternError("Value of numeric must be an array.", path)
    if not operand:
        raise PatternError("Invalid member in numeric match: ]", path)
    terms = list(operand)
    lo, lo_inc, hi, hi_inc = -_INF, False, _INF, False

    def value_of(i: int, op: str) -> float:
        if i >= len(terms) or not _is_number(terms[i]):
            name = "equals" if op == "=" else op
            raise PatternError(f"Value of {name} must be numeric", path)
        return _comparable(terms[i], path)

    first = terms[0]
    if not isinstance(first, str):
        raise PatternError(f"Invalid member in numeric match: {_show(first)}", path)
    if first == "=":
        x = value_of(1, "=")
        if len(terms) > 2:
            raise PatternError("Too many elements in numeric expression", path)
        return Matcher(MatchKind.EXACT, number_key(x))
    if first in _LOWER_OPS:
        lo, lo_inc = value_of(1, first), _LOWER_OPS[first]
        if len(terms) > 2:
            second = terms[2]
            if not isinstance(second, str):
                raise PatternError(f"Bad value in numeric range: {_show(second)}", path)
            if second not in _UPPER_OPS:
                if second in _LOWER_OPS or second == "=":
                    raise PatternError(f"Bad numeric range operator: {second}", path)
                raise PatternError(f"Unrecognized numeric range operator: {second}", path)
            hi, hi_inc = value_of(3, second), _UPPER_OPS[second]
            if len(terms) > 4:
                raise PatternError("Too many terms in numeric range expression", path)
            if lo >= hi:
                raise PatternError("Bottom must be less than top", path)
    elif first in _UPPER_OPS:
        hi, hi_inc = value_of(1, first), _UPPER_OPS[first]
        if len(terms) > 2:
            raise PatternError("Too many elements in numeric expression", path)
    else:
        raise PatternError(f"Unrecognized numeric range operator: {first}", path)
    return Matcher(MatchKind.NUMERIC, NumericRange(lo, lo_inc, hi, hi_inc))


def _show(v: Any) -> str:
    """The JSON token at ``v`` as the AWS parser names it (only the opening of a container)."""
    if isinstance(v, list):
        return "["
    if isinstance(v, Mapping):
        return "{"
    if isinstance(v, str | Decimal):
        return str(v)
    return json.dumps(v)


_AB_SCALAR_ERROR = "Value of anything-but must be an array or single string/number value."
_AB_MIXED = (
    "Inside anything but list, either all values are number or string, mixed type is not supported"
)


def _anything_but(operand: Any, path: str) -> Matcher:
    if isinstance(operand, str):
        return Matcher(MatchKind.ANYTHING_BUT, frozenset([operand]))
    if _is_number(operand):
        return Matcher(MatchKind.ANYTHING_BUT, frozenset([number_key(_comparable(operand, path))]))
    if isinstance(operand, list):
        if not operand:
            raise PatternError(_AB_MIXED, path)
        if any(not (isinstance(v, str) or _is_number(v)) for v in operand):
            raise PatternError(
                "Inside anything but list, start|null|boolean is not supported.", path
            )
        if len({isinstance(v, str) for v in operand}) > 1:
            raise PatternError(_AB_MIXED, path)
        keys = frozenset(
            v if isinstance(v, str) else number_key(_comparable(v, path)) for v in operand
        )
        return Matcher(MatchKind.ANYTHING_BUT, keys)
    if isinstance(operand, Mapping):
        if not operand:
            raise PatternError("Anything-But expression name not found", path)
        op, inner = next(iter(operand.items()))
        matcher = _anything_but_object(op, inner, path)
        if len(operand) > 1:
            # A second key, checked only after the first operator and its operand.
            raise PatternError(_extra_key_reason(matcher), path)
        return matcher
    raise PatternError(_AB_SCALAR_ERROR, path)


def _anything_but_object(op: str, inner: Any, path: str) -> Matcher:
    """``{"anything-but": {op: inner}}``: the string operators anything-but can negate."""
    if op in ("prefix", "suffix"):
        kind = MatchKind.ANYTHING_BUT_PREFIX if op == "prefix" else MatchKind.ANYTHING_BUT_SUFFIX
        items = _string_operands(inner, path, "prefix/suffix match pattern must be a string")
        if any(i == "" for i in items):
            raise PatternError("Null prefix/suffix not allowed", path)
        return Matcher(kind, frozenset(items))
    if op == "equals-ignore-case":
        if inner is None:
            raise PatternError(_AB_SCALAR_ERROR, path)
        items = _string_operands(
            inner,
            path,
            "Inside anything-but/equals-ignore-case list, "
            "number|start|null|boolean is not supported.",
        )
        return Matcher(MatchKind.ANYTHING_BUT_IC, frozenset(fold(i) for i in items))
    if op == "wildcard":
        items = _string_operands(inner, path, "wildcard match pattern must be a string")
        return Matcher(
            MatchKind.ANYTHING_BUT_WILDCARD,
            tuple(parse_wildcard(i, path) for i in dict.fromkeys(items)),
        )
    raise PatternError(f"Unsupported anything-but pattern: {op}", path)


def _string_operands(inner: Any, path: str, message: str) -> list[str]:
    if isinstance(inner, str):
        return [inner]
    if isinstance(inner, list):
        if not inner:
            # event-ruler's check passes these but its Machine then fails on them.
            raise PatternError("Empty arrays are not allowed", path)
        if all(isinstance(i, str) for i in inner):
            return list(inner)
        raise PatternError(message, path)
    if isinstance(inner, Mapping):
        raise PatternError(_AB_SCALAR_ERROR, path)
    raise PatternError(message, path)


_OPERATORS: dict[str, Any] = {
    "exactly": _exactly,
    "prefix": _prefix_or_suffix("prefix", MatchKind.PREFIX, MatchKind.PREFIX_IC),
    "suffix": _prefix_or_suffix("suffix", MatchKind.SUFFIX, MatchKind.SUFFIX_IC),
    "equals-ignore-case": _equals_ignore_case,
    "wildcard": _wildcard,
    "exists": _exists,
    "cidr": _cidr,
    "numeric": _numeric,
    "anything-but": _anything_but,
}
