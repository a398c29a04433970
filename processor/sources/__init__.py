"""Non-HTTP sources: MQTT, AMQP, NATS, another Kafka cluster, and schedules.

Each turns upstream input into CloudEvents on ``kbridge.bus.<bus>`` (binary mode, acks=all)
and acknowledges upstream only after Kafka did; see :mod:`processor.sources.base` for the
contract. One module per kind holds its implementation and registers it; they are imported
on demand (``kbridge source <name>`` imports only the kind it runs), so a deployment without
an MQTT client library can still run schedules.

Public API::

    from processor.sources.base import Source, AckWindow, Backoff, Publisher, register_source
    from processor.sources.runner import build_source, SourceRunner
    from processor.schedules import parse_schedule, ScheduleExpressionError
    from processor.clock import SystemClock, ManualClock   # shared with the sinks
    from processor.sources.payload import payload_event
"""
