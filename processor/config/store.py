"""The live configuration: a reader of the compacted ``kbridge.rules`` topic, and its writers.

:class:`ConfigStore` replays the topic from the beginning in a background thread (all
partitions assigned, no consumer group, nothing committed), keeps the latest object per key
(tombstones delete) and tells subscribers about each change. Routers, sinks and the gateway
read :meth:`ConfigStore.snapshot`. Records arrive in publish order, but a reader may still
see a rule before its target (another writer, a partial apply): the snapshot can hold such
dangling references and readers skip them with a warning rather than crash.

:mod:`processor.config.publish` holds the writers (``kbridge apply``, the management API).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, Message, TopicPartition

from processor.backoff import Backoff, BackoffCounter
from processor.config.model import ConfigObject, KbridgeConfig, ObjectKind
from processor.config.provision import rules_topic_spec
from processor.config.records import decode_object, parse_key
from processor.errors import FatalError, KbridgeError, RetriableError
from processor.kafka.admin import ensure_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.consumer import make_consumer
from processor.kafka.failures import refusal, with_cause
from processor.kafka.topics import RULES_TOPIC

log = logging.getLogger(__name__)

REFUSAL_PROBE_AFTER = 2.0
"""Seconds of not catching up after which :meth:`ConfigStore.start_and_wait` checks once
whether the brokers refuse this client (a healthy cluster is read well within them)."""


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """One object created (``old is None``), updated, or deleted (``new is None``)."""

    kind: ObjectKind
    name: str
    old: ConfigObject | None
    new: ConfigObject | None


ChangeCallback = Callable[[ConfigChange], None]

_live: dict[int, Callable[[], KbridgeConfig]] = {}
"""Snapshots of the configurations this process runs on: every started store and every
file :func:`follow_or_load` read. Settings that apply inside shared hooks rather than
through one component (a bus's ``trace`` section: processor/trace/policy.py) read them."""


def live_configs() -> list[KbridgeConfig]:
    """The configurations this process runs on now (see :data:`_live`)."""
    return [snapshot() for snapshot in list(_live.values())]


@dataclass
class _Replay:
    """Progress of one read of the topic from its beginning."""

    pending: set[int]
    """Partitions not yet read to the end they had when the read started."""
    seen: set[tuple[ObjectKind, str]] = field(default_factory=set)
    done: bool = False


class ConfigState:
    """The latest object per ``(kind, name)``; pure, so it is tested without a broker."""

    def __init__(self) -> None:
        self._objects: dict[tuple[ObjectKind, str], ConfigObject] = {}
        self._snapshot: KbridgeConfig | None = KbridgeConfig()

    def apply(self, key: bytes | str | None, value: bytes | None) -> ConfigChange | None:
        """Apply one record; returns the change, or ``None`` when nothing changed.

        Raises ``ValueError`` for a record that is not a valid configuration object.
        """
        kind, name = parse_key(key)
        old = self._objects.get((kind, name))
        if value is None:
            if old is None:
                return None
            del self._objects[(kind, name)]
            self._snapshot = None
            return ConfigChange(kind, name, old, None)
        new = decode_object(kind, value)
        if new.name != name:
            raise ValueError(f"record key {kind}/{name} holds an object named {new.name!r}")
        if old == new:
            return None
        self._objects[(kind, name)] = new
        self._snapshot = None
        return ConfigChange(kind, name, old, new)

    def object_keys(self) -> list[tuple[ObjectKind, str]]:
        """``(kind, name)`` of every live object."""
        return list(self._objects)

    def snapshot(self) -> KbridgeConfig:
        """The current configuration (cached until the next change)."""
        if self._snapshot is None:
            # Objects were validated one by one; cross-object consistency is not required.
            self._snapshot = KbridgeConfig.unchecked(
                (kind, obj) for (kind, _), obj in self._objects.items()
            )
        return self._snapshot


class ConfigStore:
    """Follows ``kbridge.rules`` in a background thread; thread-safe reads.

    Typical use::

        store = ConfigStore(settings.kafka, topic=settings.rules_topic)
        store.start()
        if not store.wait_until_caught_up(30):
            raise SystemExit("kbridge.rules not readable")
        store.subscribe(lambda change: rebuild(store.snapshot()))
        ...
        store.stop()

    Callbacks run on the store's thread after the snapshot changed; an exception in one is
    logged and does not stop the store.
    """

    def __init__(
        self,
        kafka: KafkaClientConfig,
        *,
        topic: str = RULES_TOPIC,
        create_topic: bool = True,
        replication_factor: int | None = None,
        poll_timeout: float = 0.1,
        request_timeout: float = 10.0,
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._create_topic = create_topic
        self._replication_factor = replication_factor
        self._poll_timeout = poll_timeout
        self._request_timeout = request_timeout
        self._state = ConfigState()
        self._lock = threading.Lock()
        self._callbacks: list[ChangeCallback] = []
        self._caught_up = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def failure(self) -> BaseException | None:
        """The last error while reading the topic (the thread keeps retrying), if any."""
        return self._failure

    @property
    def topic(self) -> str:
        """The topic this store follows."""
        return self._topic

    def start(self) -> None:
        """Start following the topic (idempotent); returns at once."""
        if self._thread is not None:
            return
        self._stopping.clear()
        _live[id(self)] = self.snapshot
        self._thread = threading.Thread(
            target=self._run, name=f"kbridge-config-store[{self._topic}]", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background thread and close the consumer."""
        self._stopping.set()
        _live.pop(id(self), None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> ConfigStore:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start_and_wait(self, timeout: float) -> None:
        """Start and block until caught up; every process that follows the store does this.

        Raises :class:`RetriableError` naming the topic, the servers and the last failure
        when the topic cannot be read within ``timeout``. Gives up early, with a
        :class:`FatalError` that says why, when the brokers refuse this client (wrong
        credentials, an untrusted certificate: :func:`processor.kafka.failures.refusal`),
        since waiting cannot cure that. Either way the store is stopped first: its thread
        must not outlive a process that exits on the error.
        """
        self.start()
        started = time.monotonic()
        deadline = started + timeout
        failed = f"could not read {self._topic} from {self._kafka.bootstrap_servers}"
        probed = False
        while not self.wait_until_caught_up(max(min(1.0, deadline - time.monotonic()), 0.0)):
            now = time.monotonic()
            if now >= deadline:
                break
            if not probed and now - started >= REFUSAL_PROBE_AFTER:
                probed = True
                refused = refusal(self._kafka)
                if refused is not None:
                    self.stop()
                    raise FatalError(with_cause(failed, refused, self._kafka), code="kafka-refused")
        else:
            return
        self.stop()
        reason = f": {describe_kafka_error(self.failure)}" if self.failure else ""
        raise RetriableError(f"{failed} within {time.monotonic() - started:.0f}s{reason}")

    def wait_until_caught_up(self, timeout: float) -> bool:
        """Block until every record present at start was applied; ``False`` on timeout."""
        return self._caught_up.wait(timeout)

    @property
    def caught_up(self) -> bool:
        """Whether the initial replay of the topic is complete."""
        return self._caught_up.is_set()

    def snapshot(self) -> KbridgeConfig:
        """The live configuration now (may contain dangling references, see module doc)."""
        with self._lock:
            return self._state.snapshot()

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback(change)`` after every change; returns an unsubscribe function."""
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def apply_record(self, key: bytes | str | None, value: bytes | None) -> ConfigChange | None:
        """Apply one record and notify subscribers (the thread calls this for each record)."""
        with self._lock:
            change = self._state.apply(key, value)
            callbacks = list(self._callbacks)
        if change is None:
            return None
        for callback in callbacks:
            try:
                callback(change)
            except Exception:
                log.exception("config change callback %r failed", callback)
        return change

    # The background thread.

    def _run(self) -> None:
        backoff = BackoffCounter(Backoff(base=0.5, cap=10.0, jitter=0.0))
        while not self._stopping.is_set():
            try:
                self._follow()
                return
            except Exception as exc:
                self._failure = exc
                delay = backoff.next_delay()
                log.warning(
                    "reading %s failed (%s); retrying in %.1fs",
                    self._topic,
                    describe_kafka_error(exc),
                    delay,
                )
                self._stopping.wait(delay)

    def _follow(self) -> None:
        if self._create_topic:
            ensure_topics(
                self._kafka,
                [rules_topic_spec(self._replication_factor, self._topic)],
                timeout=self._request_timeout,
            )
        consumer = make_consumer(
            self._kafka,
            f"kbridge-config-store-{uuid.uuid4().hex}",
            **{
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
                "logger": log,
            },
        )
        try:
            metadata = consumer.list_topics(self._topic, timeout=self._request_timeout)
            topic_meta = metadata.topics.get(self._topic)
            missing = topic_meta is None or (
                topic_meta.error is not None
                and topic_meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            )
            if missing and not self._create_topic:
                # Nothing was ever applied: an empty configuration until the topic appears.
                self._replayed(_Replay(set()))
            if topic_meta is None or topic_meta.error is not None or not topic_meta.partitions:
                raise RetriableError(f"topic {self._topic} does not exist")
            partitions = sorted(topic_meta.partitions)
            replay = _Replay(self._partitions_with_data(consumer, partitions))
            if not replay.pending:
                self._replayed(replay)
            consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in partitions])
            while not self._stopping.is_set():
                for message in consumer.consume(500, self._poll_timeout):
                    self._handle(message, replay)
        finally:
            consumer.close()

    def _partitions_with_data(self, consumer: Any, partitions: list[int]) -> set[int]:
        pending = set()
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(self._topic, partition), timeout=self._request_timeout
            )
            if high > low:
                pending.add(partition)
        return pending

    def _replayed(self, replay: _Replay) -> None:
        """The topic was read to its end: forget objects the replay did not contain (after a
        reconnect, deletions whose tombstones were compacted away), then report caught up."""
        replay.done = True
        with self._lock:
            stale = [key for key in self._state.object_keys() if key not in replay.seen]
        for kind, name in stale:
            self.apply_record(f"{kind}/{name}", None)
        if not self._caught_up.is_set():
            log.info("config store caught up with %s", self._topic)
            self._caught_up.set()

    def _handle(self, message: Message, replay: _Replay) -> None:
        error = message.error()
        where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                replay.pending.discard(message.partition() or 0)
                if not replay.pending and not replay.done:
                    self._replayed(replay)
                return
            log.warning("%s: consume error: %s", where, error.str())
            return
        try:
            change = self.apply_record(message.key(), message.value())
        except ValueError as exc:
            log.warning("%s: ignoring invalid config record %r: %s", where, message.key(), exc)
            return
        if not replay.done:
            key = parse_key(message.key())
            if message.value() is None:
                replay.seen.discard(key)
            else:
                replay.seen.add(key)
        if change is not None:
            action = "deleted" if change.new is None else "applied"
            level = logging.INFO if self._caught_up.is_set() else logging.DEBUG
            log.log(level, "%s: %s %s/%s", where, action, change.kind, change.name)


def describe_kafka_error(exc: BaseException) -> str:
    """A one-line reason for ``exc`` (librdkafka's text rather than the KafkaError repr)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return str(exc.args[0].str())
    return str(exc)


def read_live_config(
    kafka: KafkaClientConfig,
    *,
    topic: str = RULES_TOPIC,
    timeout: float = 30.0,
    create_topic: bool = True,
) -> KbridgeConfig:
    """The configuration currently in ``topic`` (a one-shot :class:`ConfigStore`).

    Raises :class:`RetriableError` when the topic cannot be read within ``timeout``.
    """
    store = ConfigStore(
        kafka, topic=topic, create_topic=create_topic, request_timeout=max(timeout / 2, 1.0)
    )
    try:
        store.start_and_wait(timeout)
        return store.snapshot()
    finally:
        store.stop()


def follow_or_load(
    kafka: KafkaClientConfig, topic: str, file: Path | None, *, timeout: float = 30.0
) -> tuple[Callable[[], KbridgeConfig], ConfigStore | None]:
    """The configuration a process runs on: ``file`` read once, else ``topic`` followed live.

    Returns the snapshot to call for the current configuration and the started store (the
    caller stops it), or ``None`` for a file. Raises :class:`RetriableError` when the live
    topic cannot be read in ``timeout``; its message names the way out (``-f``).
    """
    if file is not None:
        from processor.config.loader import load_config

        config = load_config(file)
        _live[id(config)] = lambda: config
        return (lambda: config), None
    store = ConfigStore(kafka, topic=topic)
    try:
        store.start_and_wait(timeout)
    except FatalError:
        raise  # the brokers refused this client: a file would not help
    except KbridgeError as exc:
        store.stop()
        raise RetriableError(f"{exc.message} (or pass -f kbridge.yaml)") from None
    return store.snapshot, store
