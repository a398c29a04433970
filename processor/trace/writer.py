"""The fire-and-forget trace writer: one call per event and stage, never a wait.

A lost trace record is acceptable, a lost or delayed event is not. So the writer has its
own small producer (acks=1, not idempotent, batched with a 100 ms linger) instead of the
hot path's acks=all idempotent one: a full trace queue or an unwritable trace topic then
never holds back, fails or fences event production (the native router's exactly-once
producer could not write outside its transactions anyway). ``emit`` queues the record in
librdkafka and returns; a full queue drops the record and counts it in :attr:`dropped`.

Each process installs one writer (:func:`start`, flushed at exit); the stage hooks in the gateway,
sources, router and sinks call :func:`active` and do nothing when it is ``None``.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

import orjson

from processor.kafka.config import KafkaClientConfig
from processor.kafka.headers import BUS, CE_ID, ERROR_CODE, ERROR_MESSAGE, RULE
from processor.kafka.topics import bus_topic, target_topic
from processor.trace import otel
from processor.trace import record as r
from processor.trace.settings import TraceSettings, load_trace_settings

log = logging.getLogger(__name__)

Send = Callable[[bytes, bytes], None]
"""``send(key, value)``: queue one trace record; may raise when the queue is full."""

TRACEPARENT = "traceparent"
"""W3C trace context, carried as ``ce_traceparent`` (CloudEvents distributed tracing)."""

TARGET_PREFIX = target_topic("t")[:-1]
"""``kbridge.target.``: a delivery's target is its egress topic's name without it."""

PRODUCER_OVERRIDES: dict[str, Any] = {
    "enable.idempotence": False,
    "acks": 1,
    "linger.ms": 100,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 100_000,
    "message.timeout.ms": 30_000,
}


class TraceWriter:
    """Builds trace records and queues them; every method returns at once.

    Stage methods build the JSON document directly (the fields :class:`TraceRecord`
    reads back) rather than a :class:`TraceRecord`: this runs once per event per stage,
    and constructing then flattening the dataclass was most of the cost.
    """

    def __init__(
        self,
        send: Send,
        settings: TraceSettings,
        *,
        by: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._send = send
        self.settings = settings
        self.by = by
        self._clock = clock
        self._everything = settings.enabled and settings.sample >= 1.0 and not settings.buses_off
        self.written = 0
        self.dropped = 0

    def traced(self, event_id: str, bus: str | None) -> bool:
        """Whether this event is traced (every event, unless sampled or off for its bus)."""
        return self._everything or self.settings.traced(event_id, bus)

    def emit(self, record: r.TraceRecord) -> None:
        """Queue ``record`` (a record built elsewhere, e.g. by tests or tools)."""
        self._emit(record.event_id, record.to_json())

    def _emit(self, event_id: str, doc: dict[str, Any]) -> None:
        """Queue one document; a refusal (full queue, closed producer) only counts a drop."""
        try:
            self._send(event_id.encode("utf-8"), orjson.dumps(doc))
        except NotReady:
            self.dropped += 1
            return
        except Exception:  # a trace record is never worth an exception on the hot path
            self.dropped += 1
            if self.dropped in (1, 1000) or self.dropped % 100_000 == 0:
                log.warning(
                    "trace records dropped (queue full or topic unwritable): %d", self.dropped
                )
            return
        self.written += 1

    def _doc(self, event_id: str, stage: str, by: str | None = None) -> dict[str, Any]:
        return {
            "v": r.VERSION,
            "event_id": event_id,
            "stage": stage,
            "at": round(self._clock(), 3),
            "by": by or self.by,
        }

    # --- stages -------------------------------------------------------------------------

    def accepted(
        self,
        event_id: str,
        bus: str,
        partition: int,
        offset: int,
        headers: Iterable[tuple[str, bytes | str | None]] = (),
        *,
        topic: str | None = None,
        by: str | None = None,
    ) -> None:
        """The gateway or a source wrote the event to its bus topic (acknowledged)."""
        if not self.traced(event_id, bus):
            return
        doc = self._doc(event_id, r.ACCEPTED, by)
        doc["bus"] = bus
        for name, value in headers or ():
            if name in _ACCEPTED_ATTRIBUTES and value is not None:
                doc[_ACCEPTED_ATTRIBUTES[name]] = _text(value)
        if topic is not None:
            doc["topic"] = topic
        doc["partition"] = partition
        doc["offset"] = offset
        self._emit(event_id, doc)

    def routed(self, record: InLike, result: ResultLike) -> None:
        """The router's decision for one ingress record (after its outputs were acked)."""
        if result.bus is None:
            return
        event_id = ingress_event_id(record.headers, record.value)
        if event_id is None or not self.traced(event_id, result.bus):
            return
        outputs = result.records
        targets = sorted({o.target for o in outputs if not o.dead_letter and o.target})
        stage = r.ROUTED if targets else r.UNMATCHED
        doc = self._doc(event_id, stage)
        doc["bus"] = result.bus
        doc["topic"] = record.topic
        doc["partition"] = record.partition
        doc["offset"] = record.offset
        if result.matched_rules:
            doc["rules"] = list(result.matched_rules)
        if targets:
            doc["targets"] = targets
        letters = [o for o in outputs if o.dead_letter]
        if letters:
            if not targets:
                doc["stage"] = r.ROUTER_DEAD_LETTER
            code, message = _dead_letter_reason(letters[0].headers)
            if code is not None:
                doc["error_code"] = code
            if message is not None:
                doc["error_message"] = message
        self._emit(event_id, doc)

    def delivered(self, delivery: DeliveryLike, *, attempts: int, latency: float) -> None:
        """A sink worker delivered the event to its target (``latency``: since ingestion)."""
        doc = self._sink_doc(delivery, r.DELIVERED, attempts)
        if doc is not None:
            doc["latency_ms"] = round(latency * 1000, 1)
            self._emit(doc["event_id"], doc)

    def retried(
        self,
        delivery: DeliveryLike,
        *,
        attempts: int,
        code: str,
        message: str,
        delay: float | None,
    ) -> None:
        """A delivery attempt failed and will be retried (``delay``: ``None`` while the
        whole destination is down, retried when it answers again)."""
        doc = self._sink_doc(delivery, r.RETRIED, attempts)
        if doc is not None:
            doc["error_code"] = code
            doc["error_message"] = message
            if delay is None:
                doc["condition"] = "destination-down"
            else:
                doc["retry_in_ms"] = round(delay * 1000, 1)
            self._emit(doc["event_id"], doc)

    def dead_lettered(
        self,
        delivery: DeliveryLike,
        *,
        attempts: int,
        code: str,
        message: str,
        condition: str,
    ) -> None:
        """A sink worker gave up on the event: it is on ``kbridge.dlq.<target>``."""
        doc = self._sink_doc(delivery, r.DEAD_LETTERED, attempts)
        if doc is not None:
            doc["error_code"] = code
            doc["error_message"] = message
            doc["condition"] = condition
            self._emit(doc["event_id"], doc)

    def _sink_doc(self, delivery: DeliveryLike, stage: str, attempts: int) -> dict[str, Any] | None:
        headers = delivery.headers
        event_id = headers.get(CE_ID)
        bus = headers.get(BUS)
        if not event_id or not self.traced(event_id, bus):
            return None
        doc = self._doc(event_id, stage)
        if bus:
            doc["bus"] = bus
        doc["topic"] = delivery.topic
        doc["partition"] = delivery.partition
        doc["offset"] = delivery.offset
        doc["target"] = delivery.topic.removeprefix(TARGET_PREFIX)
        rule = headers.get(RULE)
        if rule:
            doc["rule"] = rule
        doc["attempts"] = attempts
        parent = headers.get(otel.CE_TRACEPARENT)
        if parent:
            doc["traceparent"] = parent
        return doc


_ACCEPTED_ATTRIBUTES: Final = {
    "ce_source": "source",
    "ce_type": "type",
    "ce_traceparent": "traceparent",
}
"""Ingress headers an ``accepted`` record keeps, and the field each goes to."""


class OutLike(Protocol):
    """What the writer reads of a router output (``processor.router.records.OutRecord``)."""

    @property
    def target(self) -> str | None: ...
    @property
    def dead_letter(self) -> bool: ...
    @property
    def headers(self) -> list[tuple[str, bytes]]: ...


class InLike(Protocol):
    """What the writer reads of an ingress record (``processor.router.records.InRecord``)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Any: ...


class ResultLike(Protocol):
    """What the writer reads of a routing result (``processor.router.records.RouteResult``)."""

    @property
    def bus(self) -> str | None: ...
    @property
    def records(self) -> Any: ...
    @property
    def matched_rules(self) -> Any: ...


class DeliveryLike(Protocol):
    """What the writer reads of a sink delivery (``processor.sinks.base.Delivery``)."""

    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _attributes(
    headers: Iterable[tuple[str, bytes | str | None]], names: tuple[str, ...]
) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in headers or ():
        if name in names:
            text = _text(value)
            if text is not None:
                found[name] = text
    return found


def _dead_letter_reason(headers: Iterable[tuple[str, bytes]]) -> tuple[str | None, str | None]:
    attrs = _attributes(headers, (ERROR_CODE, ERROR_MESSAGE))
    return attrs.get(ERROR_CODE), attrs.get(ERROR_MESSAGE)


def ingress_event_id(
    headers: Iterable[tuple[str, bytes | str | None]] | None, value: bytes | None
) -> str | None:
    """The CloudEvent id of an ingress record: ``ce_id`` (binary), else the JSON ``id``."""
    for name, raw in headers or ():
        if name == CE_ID:
            return _text(raw)
    if value and value[:1] == b"{":
        import orjson

        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
        ident = parsed.get("id") if isinstance(parsed, dict) else None
        return ident if isinstance(ident, str) else None
    return None


# --- the process's writer --------------------------------------------------------------

_active: TraceWriter | None = None
_lock = threading.Lock()
_producer: Any = None


def active() -> TraceWriter | None:
    """The process's writer, or ``None`` when tracing is off or not started."""
    return _active


def install(writer: TraceWriter | None) -> None:
    """Make ``writer`` the process's writer (tests install one with an in-memory send)."""
    global _active
    _active = writer


def start(
    kafka: KafkaClientConfig, *, by: str, settings: TraceSettings | None = None
) -> TraceWriter | None:
    """Start the process's writer (idempotent); ``None`` when tracing is switched off.

    Also sets up OpenTelemetry export when configured (:func:`processor.trace.otel.setup`),
    so that each process has one start-up call for both. The trace topic is created in
    the background (partitions and retention from the settings) so that a process never
    waits for it; trace records of the first moments are held in memory until that check
    is done rather than letting the broker auto-create the topic with its defaults.
    """
    global _producer
    otel.setup(by)  # spans only when OTEL_EXPORTER_OTLP_ENDPOINT is set
    settings = settings or load_trace_settings()
    if not settings.enabled:
        install(None)
        return None
    with _lock:
        if _active is not None:
            return _active
        from processor.kafka.producer import Producer

        producer = Producer(kafka, **PRODUCER_OVERRIDES)
        topic = settings.topic
        gate = _StartGate(producer.raw.produce, topic)
        send = gate.send

        _producer = producer
        writer = TraceWriter(send, settings, by=by)
        install(writer)
        atexit.register(stop)  # one writer serves every component of the process
    threading.Thread(
        target=_ensure_topic,
        args=(kafka, settings, gate.open),
        name="kbridge-trace-topic",
        daemon=True,
    ).start()
    return writer


class NotReady(Exception):
    """The trace topic is still being checked and the start-up buffer is full."""


class _StartGate:
    """Holds trace records until the topic check is done, then produces straight through.

    A first write before the check would let the broker auto-create the trace topic with
    its defaults (one partition, no retention); dropping instead would lose the first
    events' records (a gateway worker serves requests within a second of starting). Up to
    :attr:`LIMIT` records wait in memory; beyond that they are dropped.
    """

    LIMIT = 10_000

    def __init__(self, produce: Callable[..., None], topic: str) -> None:
        self._produce = produce  # librdkafka's own: a full queue raises BufferError
        self._topic = topic
        self._ready = False
        self._held: list[tuple[bytes, bytes]] = []
        self._lock = threading.Lock()

    def send(self, key: bytes, value: bytes) -> None:
        """Produce, or hold while the topic check runs."""
        if not self._ready:
            with self._lock:
                if not self._ready:
                    if len(self._held) >= self.LIMIT:
                        raise NotReady
                    self._held.append((key, value))
                    return
        self._produce(self._topic, value, key)

    def open(self) -> None:
        """The topic check is done: produce what was held, then let writes through."""
        with self._lock:
            held, self._held = self._held, []
            for key, value in held:
                try:
                    self._produce(self._topic, value, key)
                except BufferError:
                    break  # the queue is full: the rest of the start-up records are lost
            self._ready = True


def stop(timeout: float = 2.0) -> None:
    """Flush what is queued (briefly) and forget the writer."""
    global _producer
    with _lock:
        install(None)
        producer, _producer = _producer, None
    if producer is not None:
        producer.close(timeout)


def _ensure_topic(
    kafka: KafkaClientConfig,
    settings: TraceSettings,
    done: Callable[[], None] | None = None,
) -> None:
    """Create the trace topic unless it exists; then (or on failure) let writes through."""
    from processor.kafka.admin import TopicSpec, ensure_topics

    spec = TopicSpec(
        settings.topic,
        settings.partitions,
        config={"retention.ms": str(int(settings.retention_hours * 3_600_000))},
    )
    try:
        ensure_topics(kafka, [spec], timeout=10.0)
    except Exception as exc:  # tracing is best effort; events flow without the topic
        log.warning("could not create the trace topic %s: %s", settings.topic, exc)
    finally:
        if done is not None:
            done()


def hooks_on() -> bool:
    """Whether any stage hook has work: trace records or OpenTelemetry spans."""
    return _active is not None or otel.enabled()


def published(
    bus: str,
    records: Sequence[tuple[str, Any, Any, Any]],
    acks: Sequence[Any],
    started: float,
    *,
    by: str | None = None,
) -> None:
    """The gateway's and sources' hook: ``(event_id, key, value, headers)`` records and
    their acks (``(partition, offset)`` or an exception); ``started``: when sending began."""
    tracer = _active
    spans = otel.enabled()
    if tracer is None and not spans:
        return
    for (event_id, _key, _value, headers), ack in zip(records, acks, strict=True):
        if isinstance(ack, BaseException):
            continue
        if tracer is not None:
            tracer.accepted(event_id, bus, ack[0], ack[1], headers, by=by)
        if spans:
            otel.record_span(
                "kbridge ingest",
                traceparent=otel.find_traceparent(headers),
                start=started,
                kind="PRODUCER",
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": bus_topic(bus),
                    "messaging.message.id": event_id,
                    "messaging.destination.partition.id": str(ack[0]),
                    "messaging.kafka.offset": ack[1],
                },
            )


def routed_batch(records: Sequence[InLike], results: Sequence[ResultLike]) -> None:
    """The router's hook: one trace record (and span) per routed ingress record."""
    tracer = _active
    spans = otel.enabled()
    if tracer is None and not spans:
        return
    for record, result in zip(records, results, strict=True):
        if tracer is not None:
            tracer.routed(record, result)
        if spans and result.bus is not None:
            stamp = getattr(record, "timestamp_ms", None)
            targets = sorted({o.target for o in result.records if o.target})
            otel.record_span(
                "kbridge route",
                traceparent=otel.find_traceparent(record.headers),
                start=stamp / 1000 if stamp and stamp > 0 else time.time(),
                kind="CONSUMER",
                attributes={
                    "messaging.system": "kafka",
                    "messaging.source.name": record.topic,
                    "messaging.kafka.offset": record.offset,
                    "kbridge.rules": ",".join(result.matched_rules),
                    "kbridge.targets": ",".join(targets),
                },
            )


def delivered(delivery: DeliveryLike, *, attempts: int, latency: float, started: float) -> None:
    """The sink's hook for a delivered event; ``started``: when its batch was taken."""
    if _active is not None:
        _active.delivered(delivery, attempts=attempts, latency=latency)
    if otel.enabled():
        _deliver_span(delivery, started, attempts, None)


def retried(
    delivery: DeliveryLike, attempts: int, code: str, message: str, delay: float | None
) -> None:
    """The sink's hook for a failed attempt that will be retried (no span: the final
    outcome's ``kbridge deliver`` span carries the attempt count)."""
    if _active is not None:
        _active.retried(delivery, attempts=attempts, code=code, message=message, delay=delay)


def dead_lettered(
    delivery: DeliveryLike,
    *,
    attempts: int,
    code: str,
    message: str,
    condition: str,
    started: float | None = None,
) -> None:
    """The sink's hook for a dead-lettered event (after Kafka acknowledged the letter)."""
    if _active is not None:
        _active.dead_lettered(
            delivery, attempts=attempts, code=code, message=message, condition=condition
        )
    if otel.enabled():
        _deliver_span(delivery, started or time.time(), attempts, f"{code}: {message}")


def _deliver_span(delivery: DeliveryLike, started: float, attempts: int, error: str | None) -> None:
    headers = delivery.headers
    otel.record_span(
        "kbridge deliver",
        traceparent=headers.get(otel.CE_TRACEPARENT),
        start=started,
        kind="CLIENT",
        attributes={
            "messaging.system": "kafka",
            "messaging.source.name": delivery.topic,
            "messaging.message.id": headers.get(CE_ID, ""),
            "kbridge.target": delivery.topic.removeprefix(TARGET_PREFIX),
            "kbridge.attempts": attempts,
        },
        error=error,
    )
