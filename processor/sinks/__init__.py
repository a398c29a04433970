"""Sinks: deliver a target's egress topic to its destination, at least once.

Layout (the extension points are the contract and the registry):

* ``base`` - the contract: :class:`Delivery`, :class:`Sink`, :func:`register_sink`,
  :class:`SinkContext`, :func:`build_sink` (it imports no sink);
* ``kinds`` - the catalog: which module builds which built-in kind, imported one kind at a
  time on first use (nothing in ``sinks`` imports it: no import cycle);
* ``worker`` - ``kbridge sink <target>``: consumer group, per-partition batches, commits;
* ``batch``, ``retry``, ``deadletter`` - per-item retries (full jitter, Retry-After, AWS
  limits) and dead-letter records; ``dlq`` - ``kbridge dlq list|redrive``;
* one module per target kind: ``mysql``, ``webhook``, ``function``, ``kafka``; every HTTP
  sink (webhook, function, the IM robots in ``im/``) delivers through the one HTTP stack in
  ``http/``; every destination passes the SSRF guard (:mod:`processor.netguard`);
* ``metrics`` - Prometheus counters per target (``kbridge sink --metrics-port``);
* ``testing`` - :class:`~processor.sinks.testing.ListSink`, an in-memory sink for tests.

Only the contract is imported here, so importing a sink module stays cheap.
"""

from processor.sinks.base import (
    Delivery,
    DeliveryOutcome,
    Sink,
    SinkContext,
    build_sink,
    register_sink,
    sink_factory,
)

__all__ = [
    "Delivery",
    "DeliveryOutcome",
    "Sink",
    "SinkContext",
    "build_sink",
    "register_sink",
    "sink_factory",
]
