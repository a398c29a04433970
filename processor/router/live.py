"""Live routing table: follows the config store and swaps in a rebuilt table on change."""

from __future__ import annotations

import logging
import threading
import time

from processor.config.store import ConfigChange, ConfigStore
from processor.router.table import RoutingTable

log = logging.getLogger(__name__)


class LiveTable:
    """Holds the current :class:`RoutingTable`; reads are a plain attribute access."""

    def __init__(self, table: RoutingTable | None = None) -> None:
        self.table = table or RoutingTable()
        self._lock = threading.Lock()
        self._store: ConfigStore | None = None

    def follow(self, store: ConfigStore, timeout: float = 60.0) -> None:
        """Start following ``store``: build from its snapshot now and after every change."""
        self._store = store
        store.start_and_wait(timeout)
        store.subscribe(self._on_change)
        self._rebuild()

    def wait_for_buses(self, timeout: float = 300.0) -> bool:
        """Block until the configuration declares at least one bus (Faust needs topics)."""
        deadline = time.monotonic() + timeout
        while not self.table.by_topic:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)
        return True

    def _on_change(self, change: ConfigChange) -> None:
        log.info("config changed", extra={"kind": change.kind, "object": change.name})
        self._rebuild()

    def _rebuild(self) -> None:
        assert self._store is not None
        with self._lock:
            self.table = self.table.rebuild(self._store.snapshot())
        buses = len(self.table.by_topic)
        rules = sum(len(b.actions) for b in self.table.by_topic.values())
        log.info("routing table rebuilt", extra={"buses": buses, "rules": rules})

    def stop(self) -> None:
        """Stop following the store."""
        if self._store is not None:
            self._store.stop()
