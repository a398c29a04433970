"""The fire-and-forget trace writer: one call per event and stage, never a wait.

A lost trace record is acceptable, a lost or delayed event is not. So the writer has its
own small producer (acks=1, not idempotent, lz4) instead of the hot path's acks=all
idempotent one: a full trace queue or an unwritable trace topic then never holds back,
fails or fences event production (the native router's exactly-once producer could not
write outside its transactions anyway).

Cheap per event, because it runs in every stage for every event (issue 18: at most 10 %
throughput cost). A stage call only builds one JSON line (the hot stages from
pre-encoded bytes templates, not a dict) and appends it to an in-memory list; a
background thread (or the caller, once the list is large) joins the lines of each trace
partition into **one Kafka record** (newline-delimited JSON) and produces it without a
per-record delivery callback. That replaces one librdkafka produce call, one message and
one delivery report per trace record with one per partition and flush (200 ms). The
writer picks the partition from a hash of the event id
(:func:`processor.trace.partitioning.trace_partition`), so the lookup still reads only
that event's partition. A full list, a full producer queue or an unwritable topic drops
records and counts them in :attr:`TraceWriter.dropped`.

Each process installs one writer (:func:`start`, flushed at exit); the stage hooks in the
gateway, sources, router and sinks call :func:`active` and do nothing when it is ``None``.
Which events are traced: :mod:`.policy` (sampling, per-bus switch).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

import orjson

from processor.kafka.config import KafkaClientConfig
from processor.kafka.headers import BUS, CE_ID, ERROR_CODE, ERROR_MESSAGE, RULE
from processor.kafka.topics import bus_topic, target_topic
from processor.trace import otel
from processor.trace import record as r
from processor.trace.partitioning import SAMPLE_SCALE, trace_hash
from processor.trace.policy import TracePolicy
from processor.trace.settings import TraceSettings, load_trace_settings

log = logging.getLogger(__name__)

Send = Callable[[int, bytes, int], None]
"""``send(partition, value, count)``: queue one Kafka record holding ``count`` trace records
(newline-separated JSON documents) on ``partition``; may raise when the queue is full."""

TRACEPARENT = "traceparent"
"""W3C trace context, carried as ``ce_traceparent`` (CloudEvents distributed tracing)."""

TARGET_PREFIX = target_topic("t")[:-1]
"""``kbridge.target.``: a delivery's target is its egress topic's name without it."""

PRODUCER_OVERRIDES: dict[str, Any] = {
    "enable.idempotence": False,
    "acks": 1,
    "linger.ms": 20,  # the writer batches itself (FLUSH_INTERVAL); this only joins partitions
    "compression.type": "lz4",
    "queue.buffering.max.messages": 10_000,  # Kafka records, each holding many trace records
    "message.timeout.ms": 30_000,
    "delivery.report.only.error": True,  # no report per record: only failures are counted
}

FLUSH_INTERVAL: Final = 0.2
"""Seconds between the background thread's flushes (how late a trace record may appear).

Not shorter: every wake-up of a thread takes the GIL from the stage's own thread (the
gateway's event loop, the router's loop), and on a loaded machine handing it back can
wait for a CPU; the writer's producer has no poll thread of its own for the same reason
(this thread serves its rare error reports)."""
FLUSH_RECORDS: Final = 5_000
"""Pending trace records at which the caller flushes at once instead of waiting."""
MAX_PENDING: Final = 100_000
"""Pending trace records beyond which new ones are dropped (Kafka unreachable for long)."""
MAX_RECORD_BYTES: Final = 512 * 1024
"""Largest Kafka record the writer builds (the broker's default limit is 1 MB)."""
_REFRESH_EVERY: Final = 5
"""Flushes between two reads of the per-bus policy (about once a second)."""


class TraceWriter:
    """Builds trace records and queues them; every stage method returns at once.

    ``partitions``: the trace topic's partition count, ``None`` until it is known (records
    are held meanwhile, up to :data:`MAX_PENDING`, so that a first write never lets the
    broker auto-create the topic with its defaults).
    """

    def __init__(
        self,
        send: Send,
        settings: TraceSettings,
        *,
        by: str,
        clock: Callable[[], float] = time.time,
        partitions: int | None = None,
        policy: TracePolicy | None = None,
    ) -> None:
        self._send = send
        self.settings = settings
        self.policy = policy or TracePolicy(settings)
        self.by = by
        self._by_json = orjson.dumps(by)
        self._clock = clock
        self.partitions = partitions
        self._lock = threading.Lock()
        self._pending: list[tuple[int, bytes]] = []
        self._prefixes: dict[tuple[str, str, str | None, str | None, str | None], bytes] = {}
        self._tails: dict[tuple[tuple[str, ...], tuple[str, ...]], bytes] = {}
        self._extras: dict[tuple[tuple[str, Any], ...], bytes] = {}
        self.written = 0
        """Trace records handed to the producer."""
        self.dropped = 0
        """Trace records dropped (writer full, producer queue full, Kafka refused them)."""

    def traced(self, event_id: str, bus: str | None) -> bool:
        """Whether this event is traced (the same answer in every process)."""
        return self.policy.traced(trace_hash(event_id.encode("utf-8")), bus)

    def emit(self, record: r.TraceRecord) -> None:
        """Queue ``record`` (a record built elsewhere, e.g. by tests or tools)."""
        self._emit(record.event_id, record.to_json())

    def _emit(self, event_id: str, doc: dict[str, Any]) -> None:
        """Queue one document (the less frequent stages build a dict)."""
        self._add([(trace_hash(event_id.encode("utf-8")), orjson.dumps(doc))])

    def _add(self, lines: list[tuple[int, bytes]]) -> None:
        """Append ``(hash, line)`` pairs; flush here when enough are pending."""
        with self._lock:
            if len(self._pending) + len(lines) > MAX_PENDING:
                self._drop(len(lines))
                return
            self._pending.extend(lines)
            full = len(self._pending) >= FLUSH_RECORDS
        if full:
            self.flush()

    def _drop(self, count: int) -> None:
        before = self.dropped
        self.dropped += count
        if before == 0 or before // 100_000 != self.dropped // 100_000:
            log.warning("trace records dropped (queue full or topic unwritable): %d", self.dropped)

    def flush(self) -> int:
        """Produce what is pending, one Kafka record per partition (at most
        :data:`MAX_RECORD_BYTES` each); returns the number of trace records handed over."""
        partitions = self.partitions
        if partitions is None:
            return 0
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return 0
        groups: dict[int, list[bytes]] = {}
        for hashed, line in pending:
            part = hashed // SAMPLE_SCALE % partitions
            group = groups.get(part)
            if group is None:
                groups[part] = [line]
            else:
                group.append(line)
        handed = 0
        for part, lines in groups.items():
            for chunk in _chunks(lines):
                try:
                    self._send(part, b"\n".join(chunk), len(chunk))
                except Exception:  # a trace record is never worth an exception
                    self._drop(len(chunk))
                    continue
                handed += len(chunk)
        self.written += handed
        return handed

    def _prefix(
        self,
        stage: str,
        by: str | None,
        bus: str | None,
        topic: str | None,
        rule: str | None = None,
    ) -> bytes:
        """The constant head of a stage's line: ``{"v":1,"stage":...,"by":...,"bus":...``
        (a sink stage's also names the target, from the egress topic, and the rule)."""
        key = (stage, by or self.by, bus, topic, rule)
        prefix = self._prefixes.get(key)
        if prefix is None:
            head: dict[str, Any] = {"v": r.VERSION, "stage": stage, "by": key[1]}
            if bus is not None:
                head["bus"] = bus
            if topic is not None:
                head["topic"] = topic
                if topic.startswith(TARGET_PREFIX):
                    head["target"] = topic.removeprefix(TARGET_PREFIX)
            if rule is not None:
                head["rule"] = rule
            prefix = orjson.dumps(head)[:-1]
            if len(self._prefixes) > 10_000:
                self._prefixes.clear()
            self._prefixes[key] = prefix
        return prefix

    def _at(self) -> bytes:
        return b"%.3f" % self._clock()

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
        at: bytes | None = None,
    ) -> None:
        """The gateway or a source wrote the event to its bus topic (acknowledged)."""
        line = self._accepted_line(event_id, bus, partition, offset, headers, topic, by, at)
        if line is not None:
            self._add([line])

    def _accepted_line(
        self,
        event_id: str,
        bus: str,
        partition: int,
        offset: int,
        headers: Iterable[tuple[str, bytes | str | None]],
        topic: str | None,
        by: str | None,
        at: bytes | None,
    ) -> tuple[int, bytes] | None:
        hashed = trace_hash(event_id.encode("utf-8"))
        if not self.policy.traced(hashed, bus):
            return None
        extra = b""
        for name, value in headers or ():
            field = _ACCEPTED_ATTRIBUTES.get(name)
            if field is not None and value is not None:
                extra += b',"%s":%s' % (field, orjson.dumps(_text(value)))
        return hashed, b'%s,"event_id":%s,"at":%s%s,"partition":%d,"offset":%d}' % (
            self._prefix(r.ACCEPTED, by, bus, topic),
            orjson.dumps(event_id),
            at or self._at(),
            extra,
            partition,
            offset,
        )

    def accepted_lines(
        self,
        bus: str,
        records: Sequence[tuple[str, Any, Any, Any]],
        acks: Sequence[Any],
        by: str | None = None,
    ) -> list[tuple[int, bytes]]:
        """The lines of one publish call (a gateway request, a source's send): the
        threshold, line head and clock read once per call, the rest inlined."""
        threshold = self.policy.threshold(bus)
        if threshold <= 0:
            return []
        head = self._prefix(r.ACCEPTED, by, bus, None)
        at = self._at()
        dumps = orjson.dumps
        attributes = _ACCEPTED_ATTRIBUTES
        extras = self._extras
        lines: list[tuple[int, bytes]] = []
        for (event_id, _key, _value, headers), ack in zip(records, acks, strict=True):
            if isinstance(ack, BaseException):
                continue
            hashed = zlib.crc32(event_id.encode("utf-8"))
            if hashed % SAMPLE_SCALE >= threshold:
                continue
            kept = tuple(
                (name, value)
                for name, value in headers or ()
                if name in attributes and value is not None
            )
            extra = extras.get(kept)  # events mostly share source and type
            if extra is None:
                extra = b"".join(
                    b',"%s":%s' % (attributes[name], dumps(_text(value))) for name, value in kept
                )
                if len(extras) > 1_000:  # unique values (e.g. traceparents): stay bounded
                    extras.clear()
                extras[kept] = extra
            lines.append(
                (
                    hashed,
                    b'%s,"event_id":%s,"at":%s%s,"partition":%d,"offset":%d}'
                    % (head, dumps(event_id), at, extra, ack[0], ack[1]),
                )
            )
        return lines

    def routed(self, record: InLike, result: ResultLike) -> None:
        """The router's decision for one ingress record (after its outputs were acked)."""
        line = self._routed_line(record, result, self._at())
        if line is not None:
            self._add([line])

    def routed_lines(
        self, records: Sequence[InLike], results: Sequence[ResultLike]
    ) -> list[tuple[int, bytes]]:
        """The lines of a routed batch: :meth:`_routed_line` with its common case inlined.

        Runs for every event the router handles, so the unmatched case (most events of a
        busy bus) is one header scan, one CRC32, one threshold compare and one bytes
        format, with the per-bus threshold and the line's head looked up once per batch.
        """
        at = self._at()
        lines: list[tuple[int, bytes]] = []
        append = lines.append
        thresholds = self.policy.thresholds
        default = self.policy.default
        dumps = orjson.dumps
        heads: dict[tuple[str, str], tuple[int, bytes]] = {}
        for record, result in zip(records, results, strict=True):
            bus = result.bus
            if bus is None:
                continue
            if result.records:  # matched, or a dead letter: the general path
                line = self._routed_line(record, result, at)
                if line is not None:
                    append(line)
                continue
            head = heads.get((bus, record.topic))
            if head is None:
                head = heads[(bus, record.topic)] = (
                    thresholds.get(bus, default),
                    self._prefix(r.UNMATCHED, None, bus, record.topic),
                )
            raw: Any = None
            for name, value in record.headers or ():
                if name == CE_ID:
                    raw = value
                    break
            event_id = _text(raw) if raw is not None else ingress_event_id((), record.value)
            if event_id is None:
                continue
            hashed = zlib.crc32(event_id.encode("utf-8"))
            if hashed % SAMPLE_SCALE >= head[0]:
                continue
            append(
                (
                    hashed,
                    b'%s,"event_id":%s,"at":%s,"partition":%d,"offset":%d}'
                    % (head[1], dumps(event_id), at, record.partition, record.offset),
                )
            )
        return lines

    def _routed_line(
        self, record: InLike, result: ResultLike, at: bytes
    ) -> tuple[int, bytes] | None:
        bus = result.bus
        if bus is None:
            return None
        event_id = ingress_event_id(record.headers, record.value)
        if event_id is None:
            return None
        hashed = trace_hash(event_id.encode("utf-8"))
        if not self.policy.traced(hashed, bus):
            return None
        outputs = result.records
        if not outputs:  # the common case of a busy bus: nothing matched
            return hashed, b'%s,"event_id":%s,"at":%s,"partition":%d,"offset":%d}' % (
                self._prefix(r.UNMATCHED, None, bus, record.topic),
                orjson.dumps(event_id),
                at,
                record.partition,
                record.offset,
            )
        targets = tuple(sorted({o.target for o in outputs if not o.dead_letter and o.target}))
        if any(o.dead_letter for o in outputs):  # rare: the full document
            doc = self._routed_doc(event_id, record, result, targets, outputs)
            return hashed, orjson.dumps(doc)
        stage = r.ROUTED if targets else r.UNMATCHED
        rules = tuple(result.matched_rules)
        tail = self._tails.get((rules, targets))
        if tail is None:
            parts = {}
            if rules:
                parts["rules"] = list(rules)
            if targets:
                parts["targets"] = list(targets)
            tail = b"," + orjson.dumps(parts)[1:-1] if parts else b""
            if len(self._tails) > 10_000:
                self._tails.clear()
            self._tails[(rules, targets)] = tail
        return hashed, b'%s,"event_id":%s,"at":%s,"partition":%d,"offset":%d%s}' % (
            self._prefix(stage, None, bus, record.topic),
            orjson.dumps(event_id),
            at,
            record.partition,
            record.offset,
            tail,
        )

    def _routed_doc(
        self,
        event_id: str,
        record: InLike,
        result: ResultLike,
        targets: tuple[str, ...],
        outputs: Any,
    ) -> dict[str, Any]:
        """A routed record with a dead letter among its outputs (error fields)."""
        doc = self._doc(event_id, r.ROUTED if targets else r.ROUTER_DEAD_LETTER)
        doc["bus"] = result.bus
        doc["topic"] = record.topic
        doc["partition"] = record.partition
        doc["offset"] = record.offset
        if result.matched_rules:
            doc["rules"] = list(result.matched_rules)
        if targets:
            doc["targets"] = list(targets)
        letters = [o for o in outputs if o.dead_letter]
        code, message = _dead_letter_reason(letters[0].headers)
        if code is not None:
            doc["error_code"] = code
        if message is not None:
            doc["error_message"] = message
        return doc

    def delivered(self, delivery: DeliveryLike, *, attempts: int, latency: float) -> None:
        """A sink worker delivered the event to its target (``latency``: since ingestion).

        The common sink stage: one bytes template, like ``accepted`` and ``routed``.
        """
        headers = delivery.headers
        event_id = headers.get(CE_ID)
        if not event_id:
            return
        bus = headers.get(BUS) or None
        hashed = trace_hash(event_id.encode("utf-8"))
        if not self.policy.traced(hashed, bus):
            return
        topic = delivery.topic
        parent = headers.get(otel.CE_TRACEPARENT)
        line = b'%s,"event_id":%s,"at":%s,"partition":%d,"offset":%d,"attempts":%d%s%s}' % (
            self._prefix(r.DELIVERED, None, bus, topic, headers.get(RULE) or None),
            orjson.dumps(event_id),
            self._at(),
            delivery.partition,
            delivery.offset,
            attempts,
            b',"latency_ms":%.1f' % (latency * 1000),
            b',"traceparent":' + orjson.dumps(parent) if parent else b"",
        )
        self._add([(hashed, line)])

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
    "ce_source": b"source",
    "ce_type": b"type",
    "ce_traceparent": b"traceparent",
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
_flusher: _Flusher | None = None


def active() -> TraceWriter | None:
    """The process's writer, or ``None`` when tracing is off or not started."""
    return _active


def install(writer: TraceWriter | None) -> None:
    """Make ``writer`` the process's writer (tests install one with an in-memory send)."""
    global _active
    _active = writer


def _chunks(lines: list[bytes]) -> Iterable[list[bytes]]:
    """``lines`` cut into runs of at most :data:`MAX_RECORD_BYTES` (one Kafka record each)."""
    if sum(map(len, lines)) + len(lines) <= MAX_RECORD_BYTES:
        yield lines
        return
    chunk: list[bytes] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) + 1 > MAX_RECORD_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        yield chunk


def start(
    kafka: KafkaClientConfig, *, by: str, settings: TraceSettings | None = None
) -> TraceWriter | None:
    """Start the process's writer (idempotent); ``None`` when tracing is switched off.

    Also sets up OpenTelemetry export when configured (:func:`processor.trace.otel.setup`),
    so that each process has one start-up call for both. A background thread creates the
    trace topic (partitions and retention from the settings) unless it exists, learns its
    partition count, then flushes pending records every :data:`FLUSH_INTERVAL` and reads
    the per-bus policy about once a second; a process never waits for any of it.
    """
    global _producer, _flusher
    otel.setup(by)  # spans only when OTEL_EXPORTER_OTLP_ENDPOINT is set
    settings = settings or load_trace_settings()
    if not settings.enabled:
        install(None)
        return None
    with _lock:
        if _active is not None:
            return _active
        from processor.kafka.producer import Producer

        producer = Producer(kafka, poll_thread=False, **PRODUCER_OVERRIDES)
        writer = TraceWriter(_sender(producer.raw, settings.topic), settings, by=by)
        writer.policy.refresh()
        _producer = producer
        install(writer)
        _flusher = _Flusher(writer, kafka, settings, producer.raw)
        atexit.register(stop)  # one writer serves every component of the process
    _flusher.start()
    return writer


def _sender(raw: Any, topic: str) -> Send:
    """``send`` for a confluent-kafka producer: one record, no key, an error-only report."""

    def send(partition: int, value: bytes, count: int) -> None:
        def failed(err: Any, _msg: Any) -> None:  # only called on failure (only.error)
            if err is not None and _active is not None:
                _active._drop(count)

        raw.produce(topic, value, None, partition=partition, on_delivery=failed)

    return send


class _Flusher(threading.Thread):
    """The writer's background thread: topic check, periodic flush, policy refresh."""

    def __init__(
        self, writer: TraceWriter, kafka: KafkaClientConfig, settings: TraceSettings, raw: Any
    ) -> None:
        super().__init__(name="kbridge-trace-writer", daemon=True)
        self.writer = writer
        self.kafka = kafka
        self.settings = settings
        self.raw = raw
        self.stopping = threading.Event()

    def run(self) -> None:
        while self.writer.partitions is None and not self.stopping.is_set():
            self.writer.partitions = _ensure_topic(self.kafka, self.settings, self.raw)
            if self.writer.partitions is None:
                self.stopping.wait(5.0)
        ticks = 0
        while not self.stopping.wait(FLUSH_INTERVAL):
            self.writer.flush()
            self.raw.poll(0)  # error reports only (delivery.report.only.error)
            ticks += 1
            if ticks % _REFRESH_EVERY == 0:
                try:
                    self.writer.policy.refresh()
                except Exception:  # never let a configuration problem stop the flushes
                    log.exception("could not read the buses' trace settings")


def stop(timeout: float = 2.0) -> None:
    """Flush what is pending (briefly) and forget the writer."""
    global _producer, _flusher
    with _lock:
        writer, producer, flusher = _active, _producer, _flusher
        install(None)
        _producer, _flusher = None, None
    if flusher is not None:
        flusher.stopping.set()
        flusher.join(timeout)
    if writer is not None:
        writer.flush()
    if producer is not None:
        producer.close(timeout)


def _ensure_topic(kafka: KafkaClientConfig, settings: TraceSettings, raw: Any) -> int | None:
    """Create the trace topic unless it exists; its partition count, ``None`` on failure."""
    from processor.kafka.admin import TopicSpec, ensure_topics

    spec = TopicSpec(
        settings.topic,
        settings.partitions,
        config={"retention.ms": str(int(settings.retention_hours * 3_600_000))},
    )
    try:
        ensure_topics(kafka, [spec], timeout=10.0)
        meta = raw.list_topics(settings.topic, timeout=10.0).topics.get(settings.topic)
    except Exception as exc:  # tracing is best effort; events flow without the topic
        log.warning("could not create the trace topic %s: %s", settings.topic, exc)
        return None
    if meta is None or meta.error is not None or not meta.partitions:
        log.warning("trace topic %s has no partitions yet", settings.topic)
        return None
    return len(meta.partitions)


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
    if tracer is not None:
        tracer._add(tracer.accepted_lines(bus, records, acks, by))
    if not spans:
        return
    for (event_id, _key, _value, headers), ack in zip(records, acks, strict=True):
        if isinstance(ack, BaseException):
            continue
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
    if tracer is not None:
        tracer._add(tracer.routed_lines(records, results))
    if not spans:
        return
    for record, result in zip(records, results, strict=True):
        if result.bus is not None:
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
