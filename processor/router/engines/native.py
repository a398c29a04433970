"""The native engine: a plain confluent-kafka consume → route → produce → commit loop.

For users who need several times more events per core than Faust's per-message machinery
allows. The loop is single-threaded on purpose: a batch is consumed, routed, produced and
acknowledged before its offsets are committed, so rebalance callbacks (which run inside
``consume``) never see work in flight. ``exactly_once`` wraps each batch in a Kafka
transaction that also carries the consumer offsets (KIP-447).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka import Producer as RdProducer

from processor.kafka.config import KafkaClientConfig
from processor.kafka.consumer import make_consumer
from processor.kafka.producer import DEFAULTS as PRODUCER_DEFAULTS
from processor.router.core import route
from processor.router.engines import BUS_TOPIC_PATTERN
from processor.router.live import LiveTable
from processor.router.metrics import RouterMetrics
from processor.router.records import InRecord, RouteResult

log = logging.getLogger(__name__)


class EgressFailed(Exception):
    """Some egress records of a batch were not acknowledged; the batch is retried."""


class NativeRouter:
    """Routes every bus's ingress topic until ``stop()`` is called."""

    def __init__(
        self,
        kafka: KafkaClientConfig,
        live: LiveTable,
        *,
        group_id: str = "kbridge-router",
        exactly_once: bool = False,
        batch_size: int = 1000,
        metrics: RouterMetrics | None = None,
    ) -> None:
        self._kafka = kafka
        self._live = live
        self._group_id = group_id
        self._exactly_once = exactly_once
        self._batch_size = batch_size
        self._metrics = metrics
        self._stopping = threading.Event()
        self._failed: list[KafkaError] = []

    def stop(self) -> None:
        """Ask the loop to finish its current batch and leave the group."""
        self._stopping.set()

    def _consumer(self) -> Consumer:
        return make_consumer(
            self._kafka,
            self._group_id,
            **{"topic.metadata.refresh.interval.ms": 5000, "fetch.wait.max.ms": 50},
        )

    def _producer(self) -> RdProducer:
        conf: dict[str, Any] = {
            **PRODUCER_DEFAULTS,
            **self._kafka.librdkafka(),
            "linger.ms": 10,
        }
        if self._exactly_once:
            conf["transactional.id"] = f"{self._group_id}-{uuid.uuid4().hex[:12]}"
        return RdProducer(conf)

    def run(self) -> None:
        """The loop; returns after :meth:`stop`."""
        consumer = self._consumer()
        producer = self._producer()
        if self._exactly_once:
            producer.init_transactions(30)
        consumer.subscribe([BUS_TOPIC_PATTERN])
        log.info(
            "native router started",
            extra={"group": self._group_id, "exactly_once": self._exactly_once},
        )
        try:
            while not self._stopping.is_set():
                messages = consumer.consume(self._batch_size, timeout=0.1)
                if not messages:
                    continue
                self._handle_batch(consumer, producer, messages)
        finally:
            producer.flush(30)
            consumer.close()
            log.info("native router stopped", extra={"group": self._group_id})

    def _handle_batch(
        self, consumer: Consumer, producer: RdProducer, messages: list[Message]
    ) -> None:
        records = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    log.debug("consume: %s", err.str())  # a bus topic deleted meanwhile
                elif err.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error: %s", err.str())
                continue
            records.append(
                InRecord(
                    msg.topic() or "",
                    msg.partition() or 0,
                    msg.offset() or 0,
                    msg.key(),
                    msg.value(),
                    msg.headers(),  # type: ignore[arg-type]  # librdkafka gives bytes values
                    msg.timestamp()[1],
                )
            )
        if not records:
            return
        table = self._live.table
        results = [route(table, record) for record in records]
        offsets = _next_offsets(records)
        try:
            if self._exactly_once:
                self._produce_transaction(consumer, producer, results, offsets)
            else:
                self._produce_and_wait(producer, results)
                consumer.commit(offsets=offsets, asynchronous=True)
        except (EgressFailed, KafkaException) as exc:
            log.warning("batch not acknowledged, routing it again: %s", exc)
            self._rewind(consumer, records)
            time.sleep(0.5)
            return
        if self._metrics is not None:
            self._metrics.record_batch(results)
            self._observe_latency(records, results)

    def _produce_all(self, producer: RdProducer, results: list[RouteResult]) -> None:
        failed = self._failed

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failed.append(err)

        for result in results:
            for out in result.records:
                while True:
                    try:
                        producer.produce(
                            out.topic,
                            out.value,
                            out.key,
                            headers=out.headers,  # type: ignore[arg-type]
                            on_delivery=on_delivery,
                        )
                        break
                    except BufferError:
                        producer.poll(0.05)

    def _produce_and_wait(self, producer: RdProducer, results: list[RouteResult]) -> None:
        self._failed.clear()
        self._produce_all(producer, results)
        remaining = producer.flush(60)
        if remaining or self._failed:
            first = self._failed[0].str() if self._failed else f"{remaining} still queued"
            raise EgressFailed(f"{len(self._failed) or remaining} egress records failed: {first}")

    def _produce_transaction(
        self,
        consumer: Consumer,
        producer: RdProducer,
        results: list[RouteResult],
        offsets: list[TopicPartition],
    ) -> None:
        """Egress records and the input offsets in one transaction, or neither."""
        self._failed.clear()
        producer.begin_transaction()
        try:
            self._produce_all(producer, results)
            if producer.flush(60) or self._failed:
                raise EgressFailed(f"{len(self._failed)} egress records failed in a transaction")
            producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
        except (KafkaException, EgressFailed):
            producer.abort_transaction(30)
            raise
        self._commit_transaction(producer)

    @staticmethod
    def _commit_transaction(producer: RdProducer) -> None:
        """Commit, retrying what is retriable: a retried commit never commits twice."""
        while True:
            try:
                producer.commit_transaction(60)
                return
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if err.retriable():
                    log.warning("retrying transaction commit: %s", err.str())
                    continue
                if err.txn_requires_abort():
                    producer.abort_transaction(30)
                raise

    def _rewind(self, consumer: Consumer, records: list[InRecord]) -> None:
        """Consume the failed batch again (only partitions still assigned to us).

        With transactions the committed offsets are the truth (what was produced is
        exactly what was committed); without, the batch's first offsets are.
        """
        assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        if self._exactly_once:
            targets = consumer.committed(
                [TopicPartition(t, p) for t, p in sorted(assigned)], timeout=10
            )
            targets = [
                TopicPartition(
                    tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
                )
                for tp in targets
            ]
        else:
            targets = [tp for tp in _first_offsets(records) if (tp.topic, tp.partition) in assigned]
        for tp in targets:
            try:
                consumer.seek(tp)
            except KafkaException as exc:  # revoked meanwhile: its new owner resumes it
                log.info("not rewinding %s[%d]: %s", tp.topic, tp.partition, exc)

    def _observe_latency(self, records: list[InRecord], results: list[RouteResult]) -> None:
        assert self._metrics is not None
        now_ms = time.time() * 1000
        for record, result in zip(records, results, strict=True):
            if result.bus is not None and result.matched_rules and record.timestamp_ms:
                self._metrics.observe_latency(result.bus, (now_ms - record.timestamp_ms) / 1000)


def _next_offsets(records: list[InRecord]) -> list[TopicPartition]:
    """The offsets to commit after ``records``: last offset + 1 per partition."""
    last: dict[tuple[str, int], int] = {}
    for record in records:
        last[(record.topic, record.partition)] = record.offset
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def _first_offsets(records: list[InRecord]) -> list[TopicPartition]:
    """Where to seek back to so a failed batch is consumed again."""
    first: dict[tuple[str, int], int] = {}
    for record in records:
        first.setdefault((record.topic, record.partition), record.offset)
    return [TopicPartition(t, p, o) for (t, p), o in first.items()]
