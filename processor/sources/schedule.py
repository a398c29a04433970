"""Schedule source: a "Scheduled Event" CloudEvent per tick of ``rate()`` or ``cron()``.

No duplicate and no missed ticks, however many ``kbridge source <name>`` processes run and
however often they restart:

* **one leader**: every process joins the consumer group ``kbridge-schedule-<name>`` on the
  single-partition state topic (:class:`~processor.sources.leader.KafkaLeaderLock`); only the
  member owning partition 0 emits;
* **fencing**: the leader writes through a transactional producer whose ``transactional.id``
  is ``kbridge-schedule-<name>``; a new leader's ``init_transactions`` aborts whatever the old
  one had open and makes its later writes fail, so a paused ex-leader cannot emit late;
* **state**: each transaction holds the tick events and the new last tick (key ``<name>``) in
  the compacted ``kbridge.schedules`` topic, so both are visible (read_committed) or neither;
  a new leader reads the last tick after fencing and emits every tick since, in order
  (catch-up after downtime), then sleeps until the next one. The very first leader records
  "now" as the starting point, so a leader change before the first tick still misses none.

Event: ``type`` ``Scheduled Event`` (as EventBridge), ``source`` ``kbridge.schedule``,
``subject`` the source name (also the Kafka key), ``time`` the tick, ``id`` a UUID derived
from name and tick (a tick always has the same id), ``data`` the configured ``data``.

The clock is injectable (:mod:`processor.clock`); tests run simulated hours against
real Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime
from typing import Any

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka import Producer as RdProducer

from processor.clock import SYSTEM_CLOCK, Clock
from processor.errors import RetriableError
from processor.events import CloudEvent, encode
from processor.kafka.admin import TopicSpec, ensure_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.headers import SOURCE as SOURCE_HEADER
from processor.kafka.producer import PARTITIONER
from processor.kafka.topics import schedule_state_topic
from processor.schedules import Schedule, parse_schedule
from processor.sources.base import Publisher, Source, register_source
from processor.sources.leader import LOCK_PARTITION, KafkaLeaderLock

log = logging.getLogger(__name__)

EVENT_TYPE = "Scheduled Event"
EVENT_SOURCE = "kbridge.schedule"
BATCH = 500
FENCED_PAUSE = 6.0
"""Seconds a fenced leader waits for its group membership to catch up (session timeout)."""
_ID_NAMESPACE = uuid.UUID("6f9d5e8e-4d1c-4b4e-9a51-3c1f0b8f2a77")


_Record = tuple[str, bytes | None, bytes | None, list[tuple[str, str | bytes | None]]]
"""(topic, key, value, headers) of one record of a tick transaction."""


class LeadershipLost(Exception):
    """Our transactional producer was fenced: another process leads this schedule now."""


def tick_event(name: str, tick: datetime, data: Any) -> CloudEvent:
    """The CloudEvent of one tick; the same tick always yields the same id."""
    stamp = tick.isoformat()
    return CloudEvent(
        id=str(uuid.uuid5(_ID_NAMESPACE, f"{name}/{stamp}")),
        source=EVENT_SOURCE,
        type=EVENT_TYPE,
        subject=name,
        time=tick,
        datacontenttype="application/json",
        data=data,
    )


class TickWriter:
    """Transactional writes of ticks + state; blocking (run in a thread)."""

    def __init__(
        self, kafka: KafkaClientConfig, transactional_id: str, state_topic: str | None = None
    ) -> None:
        self.state_topic = state_topic
        self.producer = RdProducer(
            kafka.librdkafka(
                **{
                    "transactional.id": transactional_id,
                    "enable.idempotence": True,
                    "acks": "all",
                    "transaction.timeout.ms": 30_000,
                    "linger.ms": 1,
                    "partitioner": PARTITIONER,
                }
            )
        )
        self._call(self.producer.init_transactions, 30)

    def _call(self, method: Any, *args: Any) -> None:
        try:
            method(*args)
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            if err.fatal() or err.code() in (
                KafkaError._FENCED,
                KafkaError.PRODUCER_FENCED,
                KafkaError.INVALID_PRODUCER_EPOCH,
            ):
                raise LeadershipLost(err.str()) from exc
            if err.txn_requires_abort():
                self.producer.abort_transaction(30)
            raise RetriableError(f"schedule transaction failed: {err.str()}") from exc

    def write(
        self,
        records: list[_Record],
    ) -> None:
        self._call(self.producer.begin_transaction)
        try:
            for topic, key, value, headers in records:
                if topic == self.state_topic:  # partition 0 is where leaders read state
                    self.producer.produce(
                        topic, value=value, key=key, headers=headers, partition=LOCK_PARTITION
                    )
                else:
                    self.producer.produce(topic, value=value, key=key, headers=headers)
        except (KafkaException, BufferError) as exc:
            self.producer.abort_transaction(30)
            raise RetriableError(f"schedule produce failed: {exc}") from exc
        self._call(self.producer.commit_transaction, 30)

    def close(self) -> None:
        self.producer.flush(5)


def read_last_tick(kafka: KafkaClientConfig, topic: str, name: str) -> datetime | None:
    """The last committed tick of schedule ``name`` in the compacted state topic."""
    consumer = Consumer(
        kafka.librdkafka(
            **{
                "group.id": f"kbridge-schedule-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
            }
        )
    )
    last: datetime | None = None
    wanted = name.encode()
    try:
        consumer.assign([TopicPartition(topic, LOCK_PARTITION, OFFSET_BEGINNING)])
        for _ in range(600):  # 60 s at most
            message = consumer.poll(0.1)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return last
                raise RetriableError(f"reading schedule state: {error.str()}")
            if message.key() != wanted:
                continue
            value = message.value()
            last = (
                None if value is None else datetime.fromisoformat(orjson.loads(value)["last_tick"])
            )
        raise RetriableError(f"reading schedule state from {topic} timed out")
    finally:
        consumer.close()


@register_source
class ScheduleSource(Source):
    """Emit the ticks of ``config.expression`` in ``config.timezone``; see the module doc."""

    kind = "schedule"

    def __init__(
        self,
        config: Any,
        publisher: Publisher,
        *,
        kafka: KafkaClientConfig,
        clock: Clock | None = None,
        state_topic: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, publisher, **kwargs)
        self.kafka = kafka
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.state_topic = state_topic or schedule_state_topic()
        self.schedule: Schedule = parse_schedule(config.expression, config.timezone)
        self.group_id = f"kbridge-schedule-{self.name}"
        self.lock: KafkaLeaderLock | None = None
        self.leading = asyncio.Event()

    async def setup(self) -> None:
        await asyncio.to_thread(
            ensure_topics, self.kafka, [TopicSpec.compacted(self.state_topic, partitions=1)]
        )

    async def stop(self) -> None:
        await super().stop()
        if self.lock is not None:
            self.lock.changed.set()

    async def session(self) -> None:
        lock = self.lock = KafkaLeaderLock(self.kafka, self.group_id, self.state_topic)
        await lock.start()
        try:
            while not self.stopping.is_set():
                if not lock.is_leader:
                    lock.changed.clear()
                    await self._wait(lock.changed)
                    continue
                await self._lead(lock)
        finally:
            self.leading.clear()
            await lock.stop()

    async def _wait(self, event: asyncio.Event) -> None:
        stop = asyncio.create_task(self.stopping.wait())
        change = asyncio.create_task(event.wait())
        try:
            await asyncio.wait({stop, change}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            change.cancel()

    async def _lead(self, lock: KafkaLeaderLock) -> None:
        writer = await asyncio.to_thread(TickWriter, self.kafka, self.group_id, self.state_topic)
        try:
            last = await asyncio.to_thread(read_last_tick, self.kafka, self.state_topic, self.name)
            if last is None:
                last = self.clock.now()
                await asyncio.to_thread(writer.write, [self._state_record(last)])
            self.leading.set()
            self.backoff.reset()
            log.info(
                "schedule leader",
                extra={"source": self.name, "last_tick": last.isoformat()},
            )
            while lock.is_leader and not self.stopping.is_set():
                due = self.schedule.ticks_between(last, self.clock.now(), limit=BATCH)
                if due:
                    await asyncio.to_thread(writer.write, self._tick_records(due))
                    last = due[-1]
                    self.published += len(due)
                    continue
                lock.changed.clear()
                upcoming = self.schedule.next_after(last)
                if upcoming is None:  # a cron year range that has ended
                    await self._wait(lock.changed)
                    continue
                await self.clock.sleep_until(upcoming, lock.changed)
        except LeadershipLost as exc:
            log.warning(
                "schedule leadership fenced", extra={"source": self.name, "error": str(exc)}
            )
            self.leading.clear()
            # Another process leads; our group membership has not caught up yet. Give it a
            # session timeout to do so instead of fencing the new leader right back.
            lock.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait(lock.changed), timeout=FENCED_PAUSE)
        finally:
            self.leading.clear()
            await asyncio.to_thread(writer.close)

    def _state_record(self, tick: datetime) -> _Record:
        value = orjson.dumps(
            {"last_tick": tick.isoformat(), "expression": self.schedule.expression}
        )
        return (self.state_topic, self.name.encode(), value, [])

    def _tick_records(self, ticks: list[datetime]) -> list[_Record]:
        records: list[_Record] = []
        for tick in ticks:
            record = encode(tick_event(self.name, tick, self.config.data), "binary")
            headers: list[tuple[str, str | bytes | None]] = [
                *record.headers,
                (SOURCE_HEADER, self.name.encode()),
            ]
            records.append((self.topic, record.key, record.value, headers))
        records.append(self._state_record(ticks[-1]))
        return records
