"""TargetGate: when a target's records are sent, held or dead-lettered (issue 21 item 2)."""

from __future__ import annotations

from processor.router.unwritable import Decision, TargetGate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_held_within_the_timeout_then_dead_lettered() -> None:
    clock = Clock()
    gate = TargetGate(60, retry_every=1, clock=clock)
    assert gate.decide("t") is Decision.SEND
    assert gate.failed("t", "UNKNOWN_TOPIC_OR_PART") is True  # starts the condition: log once
    assert gate.failed("t", "UNKNOWN_TOPIC_OR_PART") is False
    assert gate.decide("t") is Decision.HOLD
    assert gate.decide("other") is Decision.SEND, "a condition of one target only"
    clock.now += 59.9
    assert gate.decide("t") is Decision.HOLD
    clock.now += 0.1
    assert gate.decide("t") is Decision.DEAD_LETTER
    assert "unwritable for 60 s: UNKNOWN_TOPIC_OR_PART" in gate.reason("t")
    assert gate.writable("t") is True
    assert gate.decide("t") is Decision.SEND
    assert gate.writable("t") is False


def test_retries_are_spaced() -> None:
    clock = Clock()
    gate = TargetGate(60, retry_every=1, clock=clock)
    gate.failed("t", "x")
    assert gate.due("t") is False
    clock.now += 1
    assert gate.due("t") is True
    assert gate.due("t") is False, "the attempt is stamped"


def test_a_probe_that_passes_but_a_write_that_fails_keeps_the_old_deadline() -> None:
    """A missing write ACL passes the metadata probe; the timeout must not restart."""
    clock = Clock()
    gate = TargetGate(60, clock=clock)
    gate.failed("t", "TOPIC_AUTHORIZATION_FAILED")
    clock.now += 61
    gate.probation("t")
    assert gate.decide("t") is Decision.SEND
    assert gate.failed("t", "TOPIC_AUTHORIZATION_FAILED") is False
    assert gate.decide("t") is Decision.DEAD_LETTER
    gate.probation("t")
    assert gate.writable("t") is True, "a write after the probe ends the condition"
    assert gate.failed("t", "again") is True, "a later failure is a new condition"
    assert gate.decide("t") is Decision.HOLD
