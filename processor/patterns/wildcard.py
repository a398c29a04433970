"""Wildcard operands: parsing with AWS's escapes and errors, and the complexity cap.

``*`` matches zero or more characters; ``\\*`` is a literal star and ``\\\\`` a literal
backslash; any other escape and two consecutive unescaped stars are errors. Patterns whose
matching would need many simultaneous automaton states are refused the way EventBridge
refuses them ("Rule is too complex"), because a handful of such rules can make every event
slow for the whole bus.
"""

from __future__ import annotations

import re

from processor.patterns.errors import PatternError
from processor.patterns.model import Wildcard

TOO_COMPLEX = (
    "Rule is too complex - try using fewer wildcard characters or fewer repeating character "
    "sequences after a wildcard character"
)

MAX_COMPLEXITY = 10
"""Largest accepted number of simultaneously active automaton states.

The measure is event-ruler's (``Machine.evaluateComplexity``); the limit is calibrated on
AWS answers: a complexity of 7 (``/Users/*/dir/dir/dir/dir/dir/doc.txt``) is accepted and
11 (``*:*:*:*:*:event-bus/*``) rejected. AWS does not publish the exact threshold.
"""

_STAR = None


def parse_wildcard(source: str, path: str) -> Wildcard:
    """Parse a wildcard operand; raise :class:`PatternError` as AWS would."""
    tokens: list[str | None] = []
    i = 0
    n = len(source)
    while i < n:
        c = source[i]
        if c == "*":
            if tokens and tokens[-1] is _STAR:
                raise PatternError(f"Consecutive wildcard characters at pos {i}", path)
            tokens.append(_STAR)
        elif c == "\\":
            nxt = source[i + 1] if i + 1 < n else ""
            if nxt not in ("*", "\\"):
                raise PatternError(f"Invalid escape character at pos {i + 1}", path)
            tokens.append(nxt)
            i += 1
        else:
            tokens.append(c)
        i += 1
    if _complexity(tokens) > MAX_COMPLEXITY:
        raise PatternError(TOO_COMPLEX, path)
    chunks: list[str] = [""]
    for t in tokens:
        if t is _STAR:
            chunks.append("")
        else:
            chunks[-1] += t
    regex = re.compile(".*".join(re.escape(c) for c in chunks), re.DOTALL)
    return Wildcard(source=source, chunks=tuple(chunks), regex=regex)


def _complexity(tokens: list[str | None]) -> int:
    """Most automaton transitions that one input character can take at once.

    Position ``i`` waits for token ``i``; a star position loops on every character and
    also stands at the next position. Over every reachable set of active positions (subset
    construction over the pattern's characters plus one standing for all others), count the
    star loops plus the literal positions that the same character advances. This
    reproduces event-ruler's ``MachineComplexityEvaluator`` on single-rule machines.
    """
    if tokens.count(_STAR) == 0:
        return 1
    # event-ruler matches the JSON text of a string, quotes included.
    tokens = ['"', *tokens, '"']
    n = len(tokens)

    def closure(states: set[int]) -> frozenset[int]:
        out = set(states)
        stack = list(states)
        while stack:
            s = stack.pop()
            if s < n and tokens[s] is _STAR and s + 1 not in out:
                out.add(s + 1)
                stack.append(s + 1)
        return frozenset(out)

    alphabet = {t for t in tokens if t is not _STAR}
    alphabet.add("\x00other")
    start = closure({0})
    seen = {start}
    todo = [start]
    best = 0
    while todo and len(seen) < 20000:
        cur = todo.pop()
        loops = sum(1 for s in cur if s < n and tokens[s] is _STAR)
        for ch in alphabet:
            best = max(best, loops + sum(1 for s in cur if s < n and tokens[s] == ch))
            nxt: set[int] = set()
            for s in cur:
                if s >= n:
                    continue
                t = tokens[s]
                if t is _STAR:
                    nxt.add(s)
                elif t == ch:
                    nxt.add(s + 1)
            if not nxt:
                continue
            state = closure(nxt)
            if state not in seen:
                seen.add(state)
                todo.append(state)
    return best
