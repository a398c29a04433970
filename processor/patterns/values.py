"""How a JSON leaf is seen by the operators: identity, case folding, numbers, IPs.

JSON typing is exact, as in AWS EventBridge: ``true`` is not ``1`` and ``"5"`` is not
``5``; numbers compare as IEEE doubles, so ``300`` equals ``300.0``. Python's ``bool`` is an
``int`` subclass, hence the ``type(...) is`` tests instead of ``isinstance``.
"""

from __future__ import annotations

import ipaddress
import math
import re
from functools import lru_cache

from processor.patterns.model import ExactKey

Leaf = str | int | float | bool | None

_TRUE: ExactKey = ("b", True)
_FALSE: ExactKey = ("b", False)
_NULL: ExactKey = ("z", None)


def exact_key(value: Leaf) -> ExactKey:
    """The hashable identity under which exact matching compares ``value``."""
    t = type(value)
    if t is str:
        return value  # type: ignore[return-value]
    if t is bool:
        return _TRUE if value else _FALSE
    if value is None:
        return _NULL
    if t is int or t is float:
        return number_key(value)  # type: ignore[arg-type]
    # Not a JSON value (a mapping built in Python may hold anything): equal only to itself.
    return ("?", repr(value))


def number_key(value: int | float) -> ExactKey:
    """Numbers are equal when their doubles are equal; too-large ones keep their text."""
    try:
        return ("n", float(value))
    except OverflowError:
        return ("N", str(value))


def as_double(value: Leaf) -> float | None:
    """The double value of a JSON number leaf, ``None`` for every other leaf."""
    t = type(value)
    if t is int or t is float:
        try:
            x = float(value)  # type: ignore[arg-type]
        except OverflowError:
            return None
        return None if math.isnan(x) else x
    return None


def fold(text: str) -> str:
    """Case-fold for the equals-ignore-case family: per character, like event-ruler.

    event-ruler folds each character on its own (Java's simple case mapping), so a
    character whose lower case is several characters (``İ``) is kept as it is rather than
    expanded.
    """
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(c) for c in text)


@lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    low = c.lower()
    if len(low) == 1:
        return low
    up = c.upper()
    if len(up) == 1:
        low = up.lower()
        if len(low) == 1:
            return low
    return c


_IPV4 = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)\.([0-9]+)")
_IPV6 = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")


def ip_int(value: str) -> tuple[int, int] | None:
    """``(version, integer)`` for a textual IPv4/IPv6 address, ``None`` if it is not one.

    Like event-ruler, dotted quads may carry leading zeros (``010.0.0.1`` is 10.0.0.1) and
    IPv6 is recognised only in its hex-and-colons forms.
    """
    if not value or len(value) > 45:
        return None
    m = _IPV4.fullmatch(value)
    if m is not None:
        octets = [int(g) for g in m.groups()]
        if any(o > 255 for o in octets):
            return None
        return 4, (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]
    if _IPV6.fullmatch(value) is None:
        return None
    try:
        return 6, int(ipaddress.IPv6Address(value))
    except ValueError:
        return None
