"""Serving the gateway producer's delivery reports on the event loop (opt-in).

Why: with kbridge's usual producer, a background thread polls librdkafka and runs one
Python delivery callback per record, taking the GIL from the event loop each time. At
thousands of records per second those hand-overs cost more than the callbacks: in-process
runs of PutEvents batches of 10 spent 38-39 µs of CPU per event with the reports served
on the loop against 47-53 µs with the thread, at 1.6-2.2x the rate. The price is latency
at low load: uvloop's timers have 1 ms resolution (a shorter sleep spins), so a lone
request waits up to 1 ms longer for its acknowledgement to be noticed. Hence opt-in
(``kbridge gateway --loop-delivery``).

:class:`DeliveryPump` polls while records are pending (at once again after a poll that
served reports, else after 1 ms), sleeps until :meth:`DeliveryPump.kick` when nothing is
pending, and polls at least once a second so that librdkafka's error reports (every
broker down, which stalls the gateway's flow control at once) are still served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

logger = logging.getLogger(__name__)

BUSY_INTERVAL = 0.001
"""Seconds between polls while records are pending and the last poll served nothing."""
IDLE_INTERVAL = 1.0
"""Seconds between polls with nothing pending (error and statistics reports)."""


class DeliveryPump:
    """Polls a confluent-kafka producer from the event loop (one task per producer)."""

    def __init__(self, raw_producer: Any) -> None:
        self._raw = raw_producer
        self._wake = asyncio.Event()

    def kick(self) -> None:
        """Records were queued: poll until they are all settled."""
        self._wake.set()

    async def run(self) -> None:
        """Serve delivery and error reports until cancelled."""
        raw = self._raw
        while True:
            try:
                served = raw.poll(0)
            except Exception:  # a callback that raised; the reports of others still count
                logger.exception("serving the producer's delivery reports failed")
                served = 0
            if len(raw):  # records queued or in flight, not yet reported
                await asyncio.sleep(0 if served else BUSY_INTERVAL)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_INTERVAL)
