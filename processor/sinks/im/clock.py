"""Kept for imports written before the clock moved to :mod:`processor.clock`."""

from processor.clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]
