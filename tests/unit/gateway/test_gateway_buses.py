"""The gateway's view of the live configuration's buses (``ConfigBuses``).

It answers twice per ingest request from an index by name, rebuilt when the config store
swaps in a new snapshot: a bus added or removed must show at once, not after a restart.
"""

from __future__ import annotations

from processor.config import Bus, KbridgeConfig
from processor.gateway.context import ConfigBuses


def test_config_buses_follow_each_new_snapshot() -> None:
    live = [KbridgeConfig(buses=[Bus(name="orders", max_event_bytes=4096)])]
    buses = ConfigBuses(snapshot=lambda: live[0])
    assert buses.exists("orders")
    assert buses.max_event_bytes("orders") == 4096
    assert not buses.exists("audit")
    assert buses.max_event_bytes("audit") is None

    live[0] = KbridgeConfig(buses=[Bus(name="audit")])  # the store applied a change
    assert buses.exists("audit")
    assert not buses.exists("orders")
    assert buses.max_event_bytes("audit") == Bus(name="audit").max_event_bytes
