"""The demo's output: plain lines for a person watching a terminal (no logging format)."""

from __future__ import annotations

import threading

_print_lock = threading.Lock()


def say(text: str = "") -> None:
    """Print one block of output; receivers print from their own threads."""
    with _print_lock:
        print(text, flush=True)


def step(text: str) -> None:
    """Print the heading of the next step."""
    say(f"\n==> {text}")
