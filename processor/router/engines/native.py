"""The native engine: a plain confluent-kafka consume → route → produce → commit loop.

For users who need several times more events per core than Faust's per-message machinery
allows. The loop is single-threaded on purpose: a batch is consumed, routed, produced and
acknowledged before its offsets are committed, so rebalance callbacks (which run inside
``consume``) never see work in flight. ``exactly_once`` wraps each batch in a Kafka
transaction that also carries the consumer offsets (KIP-447).

A target whose egress topic cannot be written (missing topic, missing ACL) is a condition
of that target (:mod:`processor.router.unwritable`): its records are held, the partition's
committed offset stays below the oldest held record, and everything else keeps flowing
until the topic takes writes again or the records are dead-lettered after the timeout.

With ``exactly_once`` a partition's first records after it was assigned (and a failed
batch's partitions) are checked against the group's *stable* committed offset before
anything is routed (:meth:`NativeRouter._verify`): librdkafka can start a newly assigned
partition at ``auto.offset.reset`` while a crashed router's transaction still holds its
offsets, which re-routed already committed records
(docs/operations.md#after-a-crash-native-engine).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
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
from processor.router.core import produce_dead_letter, route
from processor.router.engines import BUS_TOPIC_PATTERN
from processor.router.live import LiveTable
from processor.router.metrics import RouterMetrics
from processor.router.records import InRecord, OutRecord, RouteResult
from processor.router.unwritable import DEFAULT_TIMEOUT, UNWRITABLE_CODE, Decision, TargetGate
from processor.trace import writer as trace_writer

log = logging.getLogger(__name__)

UNWRITABLE_CODES = frozenset(
    {
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
    }
)
"""Delivery errors that make a target's egress topic unwritable (not the router's problem)."""

COMMIT_EVERY = 0.1
"""Seconds between offset commits (a batch's offsets are committable once it was acked)."""

TRANSACTION_TIMEOUT = 10.0
"""Seconds before the coordinator aborts an open transaction (``--exactly-once``).

A router killed inside a transaction blocks ``read_committed`` readers of the egress
partitions it wrote and its successor on the ingress partitions until the coordinator
aborts it: librdkafka's default (60 s) made that over a minute. A batch's transaction takes
well under a second; Kafka Streams uses 10 s for the same reason."""

RECHECK_EVERY = 1.0
"""Seconds between asking again for the committed offsets of partitions held unverified."""

COMMITTED_TIMEOUT = 0.5
"""Seconds to wait for committed offsets (a quarter for one partition): librdkafka keeps
retrying while a transaction holds one (UNSTABLE_OFFSET_COMMIT) and answers stable ones in
milliseconds. The loop waits meanwhile, so this is kept short."""

_TP = tuple[str, int]
_Key = tuple[str, int, int, int]
"""A held egress record: source topic, partition, offset and its index among the outputs."""


class EgressFailed(Exception):
    """Some egress records of a batch were not acknowledged; the batch is retried."""


class ProducerFailed(Exception):
    """The transactional producer hit a fatal error; a new one routes the batch again.

    Typically fenced: the coordinator aborted a transaction that outlived the transaction
    timeout (a stalled process), or another producer took over its transactional.id.
    librdkafka never recovers such a producer, so retrying with it would fail forever.
    """


@dataclass(frozen=True, slots=True)
class _Send:
    key: _Key
    record: InRecord
    out: OutRecord


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
        unwritable_timeout: float = DEFAULT_TIMEOUT,
        transaction_timeout: float = TRANSACTION_TIMEOUT,
    ) -> None:
        self._kafka = kafka
        self._transaction_timeout_ms = int(transaction_timeout * 1000)
        self.transactional_id: str | None = None  # the current producer's, with exactly_once
        self._live = live
        self._group_id = group_id
        self._exactly_once = exactly_once
        self._batch_size = batch_size
        self._metrics = metrics
        self._stopping = threading.Event()
        self._gate = TargetGate(unwritable_timeout)
        self._held: dict[_Key, _Send] = {}
        self._position: dict[_TP, int] = {}  # next offset after the last routed batch
        self._committed: dict[_TP, int] = {}
        self._uncommitted: dict[_TP, int] = {}  # committable, not yet sent to the broker
        self._parked: dict[_TP, int] = {}  # paused: a bus this router has no config for
        self._parked_with: object = None  # the table that did not know them
        self._last_commit = 0.0
        self._commit_failing = False  # the last commit's outcome was a failure (logged once)
        # exactly-once: partitions whose position matched the stable committed offset since
        # they were assigned, and paused ones waiting for it (with where to go if none)
        self._verified: set[_TP] = set()
        self._unverified: dict[_TP, int] = {}
        self._last_recheck = 0.0

    def stop(self) -> None:
        """Ask the loop to finish its current batch and leave the group."""
        self._stopping.set()

    def _consumer(self) -> Consumer:
        return make_consumer(
            self._kafka,
            self._group_id,
            **{
                "topic.metadata.refresh.interval.ms": 5000,
                "fetch.wait.max.ms": 50,
                "on_commit": self._on_commit,
            },
        )

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """An offset commit's outcome (served inside ``consume``): failed offsets go again.

        Commits are asynchronous, so a refusal (coordinator moved or loading, a rebalance
        under way, a request timeout) arrives here, not as an exception. Dropping it left the
        group's offsets behind what was routed until the partition's next record: an idle
        router showed lag for ever, and a restart routed those records again.
        """
        if err is not None and err.code() == KafkaError._NO_OFFSET:
            return
        failed = [tp for tp in partitions if err is not None or tp.error is not None]
        if not failed:
            if self._commit_failing:
                self._commit_failing = False
                log.info("offset commits succeed again")
            return
        again = 0
        for tp in failed:
            key = (tp.topic, tp.partition)
            # still ours, not superseded by a later committable offset, not queued already
            if self._committed.get(key) == tp.offset and key not in self._uncommitted:
                self._uncommitted[key] = tp.offset
                again += 1
        cause = err if err is not None else failed[0].error
        # once per failing spell: commits are retried every COMMIT_EVERY seconds
        (log.debug if self._commit_failing else log.warning)(
            "offset commit failed for %d partition(s) (%s); %d will be committed again",
            len(failed),
            cause.str() if isinstance(cause, KafkaError) else cause,
            again,
        )
        self._commit_failing = True

    def _producer(self) -> RdProducer:
        conf: dict[str, Any] = {
            **PRODUCER_DEFAULTS,
            **self._kafka.librdkafka(),
            "linger.ms": 10,
            # a missing egress topic fails its records after 2 s instead of 30 s: it is
            # held and retried (processor.router.unwritable), so waiting longer buys nothing
            "topic.metadata.propagation.max.ms": 2000,
        }
        if self._exactly_once:
            conf["transactional.id"] = f"{self._group_id}-{uuid.uuid4().hex[:12]}"
            conf["transaction.timeout.ms"] = self._transaction_timeout_ms
            # librdkafka refuses a message timeout above the transaction timeout
            conf["message.timeout.ms"] = min(
                conf["message.timeout.ms"], conf["transaction.timeout.ms"]
            )
        producer = RdProducer(conf)
        if self._exactly_once:
            self.transactional_id = conf["transactional.id"]
            producer.init_transactions(30)
            log.info("transactional producer %s ready", self.transactional_id)
        return producer

    def run(self) -> None:
        """The loop; returns after :meth:`stop`."""
        trace_writer.start(self._kafka, by="router")  # docs/tracing.md
        consumer = self._consumer()
        producer = self._producer()
        consumer.subscribe([BUS_TOPIC_PATTERN], on_revoke=self._revoked, on_lost=self._forget)
        log.info(
            "native router started",
            extra={"group": self._group_id, "exactly_once": self._exactly_once},
        )
        try:
            while not self._stopping.is_set():
                messages = self._next_batch(consumer)
                if messages:
                    try:
                        self._handle_batch(consumer, producer, messages)
                    except ProducerFailed as exc:
                        log.warning("replacing the transactional producer: %s", exc)
                        producer = self._producer()
                if self._held or self._gate.unwritable:
                    self._retry_held(consumer, producer)
                if self._uncommitted:
                    self._send_commits(consumer)
                if self._parked and self._live.table is not self._parked_with:
                    self._unpark(consumer)
                if self._unverified:
                    self._recheck(consumer)
        finally:
            producer.flush(30)
            self._send_commits(consumer, force=True)
            consumer.close()
            log.info("native router stopped", extra={"group": self._group_id})

    def _next_batch(self, consumer: Consumer) -> list[Message]:
        """What is already fetched (up to the batch size), else the next record to arrive.

        ``consume(n, timeout)`` waits until it has ``n`` records or the timeout passed, so a
        fixed timeout made every record of a light load wait for it (up to 100 ms). Taking
        what is there without waiting routes a lone record at once, while under load the
        records fetched during the previous batch fill the next one.
        """
        messages = consumer.consume(self._batch_size, timeout=0)
        if messages:
            return messages
        first = consumer.consume(1, timeout=0.1)
        if not first or self._batch_size == 1:
            return first
        return first + consumer.consume(self._batch_size - 1, timeout=0)

    def _park(self, consumer: Consumer, topic: str, partition: int, offset: int) -> None:
        """Pause a partition of a bus the routing table does not know (yet).

        The regex subscription sees every ``kbridge.bus.*`` topic of the cluster, also a
        bus whose configuration has not reached this router yet (the topic is created
        before the rule change arrives) or another deployment's bus. Its records are
        neither routed nor committed: the partition waits at ``offset`` until the table
        knows the bus, instead of being read (and, before, committed) for nothing.
        """
        tp = TopicPartition(topic, partition)
        consumer.pause([tp])
        self._parked[(topic, partition)] = offset
        self._parked_with = self._live.table
        log.debug("paused %s[%d] at %d: no such bus configured", topic, partition, offset)

    def _unpark(self, consumer: Consumer) -> None:
        """Resume parked partitions whose bus the (changed) table now knows."""
        table = self._live.table
        self._parked_with = table
        for (topic, partition), offset in list(self._parked.items()):
            if table.bus_for_topic(topic) is None:
                continue
            del self._parked[(topic, partition)]
            tp = TopicPartition(topic, partition, offset)
            try:
                consumer.resume([tp])
                consumer.seek(tp)
            except KafkaException as exc:  # revoked meanwhile: its new owner resumes it
                log.info("not resuming %s[%d]: %s", topic, partition, exc)
            else:
                log.info("resumed %s[%d] at %d: its bus is configured", topic, partition, offset)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Hand revoked partitions over at what was routed (commit it now), then forget."""
        gone = {(tp.topic, tp.partition) for tp in partitions}
        if self._uncommitted.keys() & gone:
            self._send_commits(consumer, force=True, only=gone)
        self._forget(consumer, partitions)

    def _forget(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Revoked or lost partitions: their new owner resumes from the committed offset."""
        gone = {(tp.topic, tp.partition) for tp in partitions}
        for key in [k for k in self._held if (k[0], k[1]) in gone]:
            del self._held[key]
        for tp in gone:
            self._position.pop(tp, None)
            self._committed.pop(tp, None)
            self._uncommitted.pop(tp, None)
            self._parked.pop(tp, None)
            self._verified.discard(tp)
            if self._unverified.pop(tp, None) is not None:
                # an application pause would outlive the assignment in librdkafka
                with contextlib.suppress(KafkaException):
                    consumer.resume([TopicPartition(*tp)])

    def _verify(
        self, consumer: Consumer, records: list[InRecord], first: dict[_TP, int]
    ) -> list[InRecord]:
        """The records that may be routed in a transaction: none below the committed offset.

        With transactions a partition's committed offset is exactly what was routed, so a
        record below it was routed already; routing it again is a duplicate. librdkafka
        starts a newly assigned partition at the committed offset, but not always: when its
        assignment changes (the regex subscription sees every new ``kbridge.bus.*`` topic)
        while a crashed router's open transaction still holds the group's offsets
        (UNSTABLE_OFFSET_COMMIT), it puts the partition back with an INVALID offset and
        starts it at ``auto.offset.reset`` -- the beginning (librdkafka
        ``src/rdkafka_assignment.c``, ``rd_kafka_assignment_apply_offsets``; reproduced with
        a plain consumer). So a partition's first records since its assignment are checked
        once against the *stable* committed offset: at it, they are routed; elsewhere, the
        partition seeks to it; not stable yet, the partition is paused until it is
        (:meth:`_recheck`, a transaction timeout at most). ``first``: the first offset of
        each partition of the batch not checked yet (empty in the steady state: no cost).
        """
        new = [tp for tp in first if tp not in self._unverified]
        committed = self._stable_committed(consumer, new)
        moved: set[_TP] = set()  # sought elsewhere: this batch's records of it are dropped
        for tp in new:
            if tp not in committed:
                self._hold(consumer, tp, first[tp])
                log.warning(
                    "%s[%d]: its committed offset is held by an open transaction (a stopped "
                    "router's?); waiting before routing it",
                    *tp,
                )
            elif committed[tp] < 0 or committed[tp] == first[tp]:
                self._verified.add(tp)
            else:
                log.warning(
                    "%s[%d]: consumer started at %d, the committed offset is %d; seeking there "
                    "(not routing a record twice)",
                    tp[0],
                    tp[1],
                    first[tp],
                    committed[tp],
                )
                moved.add(tp)
                try:
                    consumer.seek(TopicPartition(tp[0], tp[1], committed[tp]))
                except KafkaException as exc:  # revoked meanwhile: its new owner checks it
                    log.info("not seeking %s[%d]: %s", tp[0], tp[1], exc)
                else:
                    self._verified.add(tp)
        return [
            r
            for r in records
            if (r.topic, r.partition) in self._verified and (r.topic, r.partition) not in moved
        ]

    def _hold(self, consumer: Consumer, tp: _TP, fallback: int) -> None:
        """Pause ``tp`` until its committed offset is known; ``fallback`` if none is."""
        try:
            consumer.pause([TopicPartition(*tp)])
        except KafkaException as exc:  # revoked meanwhile: its new owner checks it
            log.info("not pausing %s[%d]: %s", tp[0], tp[1], exc)
            return
        self._verified.discard(tp)
        self._unverified[tp] = fallback

    def _recheck(self, consumer: Consumer, *, force: bool = False) -> None:
        """Resume held partitions whose committed offset became stable, at that offset."""
        if not force and time.monotonic() - self._last_recheck < RECHECK_EVERY:
            return
        known = self._stable_committed(consumer, list(self._unverified))
        self._last_recheck = time.monotonic()  # the other partitions' turn in between
        for tp, offset in known.items():
            target = offset if offset >= 0 else self._unverified[tp]
            del self._unverified[tp]
            try:
                consumer.resume([TopicPartition(*tp)])
                consumer.seek(TopicPartition(tp[0], tp[1], target))
            except KafkaException as exc:  # revoked meanwhile: its new owner checks it
                log.info("not resuming %s[%d]: %s", tp[0], tp[1], exc)
            else:
                self._verified.add(tp)
                log.info("%s[%d]: routing from the committed offset %d", tp[0], tp[1], target)

    @staticmethod
    def _stable_committed(consumer: Consumer, tps: list[_TP]) -> dict[_TP, int]:
        """The group's stable committed offsets of ``tps`` (negative: none) that are known.

        A partition missing from the answer is held by an open transaction (librdkafka
        retries until the request times out) or unknown for another reason. One such
        partition makes the whole request wait, so then each is asked on its own.
        """
        if not tps:
            return {}
        timeout = COMMITTED_TIMEOUT if len(tps) > 1 else COMMITTED_TIMEOUT / 4
        try:
            answer = consumer.committed([TopicPartition(t, p) for t, p in tps], timeout=timeout)
        except KafkaException:
            if len(tps) == 1:
                return {}
            known: dict[_TP, int] = {}
            for tp in tps:
                known.update(NativeRouter._stable_committed(consumer, [tp]))
            return known
        return {(tp.topic, tp.partition): tp.offset for tp in answer if tp.error is None}

    def _handle_batch(
        self, consumer: Consumer, producer: RdProducer, messages: list[Message]
    ) -> None:
        records = []
        table = self._live.table
        # exactly-once: first offset of each partition not checked since its assignment
        unchecked: dict[_TP, int] | None = {} if self._exactly_once else None
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    log.debug("consume: %s", err.str())  # a bus topic deleted meanwhile
                elif err.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error: %s", err.str())
                continue
            topic, partition = msg.topic() or "", msg.partition() or 0
            tp = (topic, partition)
            if tp in self._parked:
                continue
            offset = msg.offset() or 0
            if table.bus_for_topic(topic) is None:
                self._park(consumer, topic, partition, offset)
                continue
            if unchecked is not None and tp not in self._verified:
                unchecked.setdefault(tp, offset)
            records.append(
                InRecord(
                    topic,
                    partition,
                    offset,
                    msg.key(),
                    msg.value(),
                    msg.headers(),  # type: ignore[arg-type]  # librdkafka gives bytes values
                    msg.timestamp()[1],
                )
            )
        if unchecked:
            records = self._verify(consumer, records, unchecked)
        if not records:
            return
        results = [route(table, record) for record in records]
        try:
            if self._exactly_once:
                self._produce_transaction(consumer, producer, records, results)
            else:
                self._produce_and_wait(producer, records, results)
                for nxt in _next_offsets(records):
                    self._position[(nxt.topic, nxt.partition)] = nxt.offset
                self._commit(consumer, {(r.topic, r.partition) for r in records})
        except (EgressFailed, KafkaException) as exc:
            log.warning("batch not acknowledged, routing it again: %s", exc)
            self._rewind(consumer, records)
            if isinstance(exc, KafkaException) and _fatal(exc):
                raise ProducerFailed(str(exc)) from exc
            time.sleep(0.5)
            return
        if self._metrics is not None:
            self._metrics.record_batch(results)
            self._observe_latency(records, results)
        trace_writer.routed_batch(records, results)  # docs/tracing.md

    def _sends(self, records: list[InRecord], results: list[RouteResult]) -> list[_Send]:
        return [
            _Send((record.topic, record.partition, record.offset, i), record, out)
            for record, result in zip(records, results, strict=True)
            for i, out in enumerate(result.records)
        ]

    def _gated(self, send: _Send) -> _Send | None:
        """The send itself, its dead letter (unwritable too long), or None (hold it)."""
        if send.out.dead_letter:
            return send
        decision = self._gate.decide(send.out.topic)
        if decision is Decision.SEND:
            return send
        if decision is Decision.HOLD:
            return None
        letter = produce_dead_letter(
            self._live.table,
            send.record,
            send.out,
            UNWRITABLE_CODE,
            self._gate.reason(send.out.topic),
        )
        if letter is None:
            log.warning("dropping a record of a deleted bus: %s", send.record.where())
            return None
        return _Send(send.key, send.record, letter)

    def _produce_and_wait(
        self, producer: RdProducer, records: list[InRecord], results: list[RouteResult]
    ) -> None:
        """Produce a batch; unwritable targets' records are held, other failures raise."""
        sends: list[_Send] = []
        for send in self._sends(records, results):
            gated = self._gated(send)
            if gated is not None:
                sends.append(gated)
            elif self._gate.decide(send.out.topic) is Decision.HOLD:
                self._held[send.key] = send
        failures = self._produce(producer, sends)
        transient = [err for send, err in failures if not self._unwritable(send, err)]
        if transient:
            raise EgressFailed(f"{len(transient)} egress records failed: {transient[0].str()}")
        for send, _err in failures:
            self._held[send.key] = send

    def _unwritable(self, send: _Send, err: KafkaError) -> bool:
        """Whether ``err`` is the target's condition (its record is then held)."""
        if send.out.dead_letter or err.code() not in UNWRITABLE_CODES:
            return False
        if self._gate.failed(send.out.topic, f"{err.name()}: {err.str()}"):
            log.warning(
                "egress topic %s is unwritable (%s); holding its records for up to %g s, "
                "then dead-lettering them to the bus",
                send.out.topic,
                err.str(),
                self._gate.timeout,
            )
        return True

    def _produce(self, producer: RdProducer, sends: list[_Send]) -> list[tuple[_Send, KafkaError]]:
        """Produce and flush; the sends that failed with their errors."""
        failures: list[tuple[_Send, KafkaError]] = []
        delivered: set[str] = set()

        def callback(send: _Send) -> Any:
            def on_delivery(err: KafkaError | None, _msg: Message) -> None:
                if err is not None:
                    failures.append((send, err))
                else:
                    delivered.add(send.out.topic)

            return on_delivery

        for send in sends:
            out = send.out
            while True:
                try:
                    producer.produce(
                        out.topic,
                        out.value,
                        out.key,
                        headers=out.headers,  # type: ignore[arg-type]
                        on_delivery=callback(send),
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
                except KafkaException as exc:  # e.g. a topic librdkafka knows is missing
                    failures.append((send, exc.args[0]))
                    break
        remaining = producer.flush(60)
        if remaining:
            raise EgressFailed(f"{remaining} egress records still queued after 60 s")
        for topic in delivered:
            if self._gate.writable(topic):
                log.warning("egress topic %s is writable again", topic)
        return failures

    def _retry_held(self, consumer: Consumer, producer: RdProducer) -> None:
        """Probe unwritable topics that are due; write (or dead-letter) what they hold."""
        for topic in self._gate.unwritable:
            if self._gate.due(topic) and self._probe(producer, topic):
                self._gate.probation(topic)
        if not self._held:
            return
        sends = [g for g in map(self._gated, self._held.values()) if g is not None]
        if not sends:
            return
        try:
            failures = self._produce(producer, sends)
        except EgressFailed as exc:
            log.warning("held records not acknowledged yet: %s", exc)
            return
        for send, err in failures:  # held on: unwritable again, or a transient failure
            self._unwritable(send, err)
        failed = {send.key for send, _err in failures}
        for send in sends:
            if send.key not in failed:
                self._held.pop(send.key, None)
        self._commit(consumer, {(s.key[0], s.key[1]) for s in sends})

    def _probe(self, producer: RdProducer, topic: str) -> bool:
        """Whether metadata shows ``topic`` with partitions again (a metadata round trip,
        not the producer's propagation wait; a missing write ACL shows on the write)."""
        try:
            meta = producer.list_topics(topic, timeout=2).topics.get(topic)
        except KafkaException as exc:
            self._gate.failed(topic, exc.args[0].str())
            return False
        if meta is None or meta.error is not None or not meta.partitions:
            reason = meta.error.str() if meta is not None and meta.error else "no partitions"
            self._gate.failed(topic, reason)
            return False
        return True

    def _commit(self, consumer: Consumer, tps: set[_TP]) -> None:
        """Commit each partition up to its oldest held record (or what was routed)."""
        lowest: dict[_TP, int] = {}
        for topic, partition, offset, _i in self._held:
            tp = (topic, partition)
            if tp in tps and offset < lowest.get(tp, offset + 1):
                lowest[tp] = offset
        for tp in tps:
            position = self._position.get(tp)
            if position is None:
                continue
            target = min(position, lowest.get(tp, position))
            if self._committed.get(tp, -1) < target:
                self._committed[tp] = target
                self._uncommitted[tp] = target
        self._send_commits(consumer)

    def _send_commits(
        self, consumer: Consumer, *, force: bool = False, only: set[_TP] | None = None
    ) -> None:
        """Commit what became committable, at most every COMMIT_EVERY seconds.

        Routing a lone record at once makes batches small under light load; committing
        each of them would cost the broker a request per record for nothing (the commit
        is not on the delivery path). ``force`` commits synchronously (shutdown, revoke).
        """
        now = time.monotonic()
        if not self._uncommitted or (not force and now - self._last_commit < COMMIT_EVERY):
            return
        chosen = {tp: o for tp, o in self._uncommitted.items() if only is None or tp in only}
        if not chosen:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in chosen.items()]
        try:
            if force:
                consumer.commit(offsets=offsets, asynchronous=False)
            else:
                consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:  # redelivery after a restart, never a loss
            log.warning("offset commit failed: %s", exc)
            return
        self._last_commit = now
        for tp in chosen:
            del self._uncommitted[tp]

    def _produce_transaction(
        self,
        consumer: Consumer,
        producer: RdProducer,
        records: list[InRecord],
        results: list[RouteResult],
    ) -> None:
        """Egress records and the input offsets in one transaction, or neither.

        A transaction cannot leave a record behind, so here an unwritable target holds
        its whole partition (the batch is retried) until its records are dead-lettered
        after the timeout: bounded, but not flowing around it.
        """
        sends: list[_Send] = []
        for send in self._sends(records, results):
            gated = self._gated(send)
            if gated is None and self._gate.decide(send.out.topic) is Decision.HOLD:
                raise EgressFailed(
                    f"egress topic {send.out.topic} is unwritable; retrying its batch "
                    f"({self._gate.reason(send.out.topic)})"
                )
            if gated is not None:
                sends.append(gated)
        producer.begin_transaction()
        try:
            failures = self._produce(producer, sends)
            fatal = next((err for _send, err in failures if err.fatal()), None)
            if fatal is not None:  # fenced: the producer is done (ProducerFailed)
                raise KafkaException(fatal)
            if failures:
                for send, err in failures:
                    self._unwritable(send, err)
                raise EgressFailed(
                    f"{len(failures)} egress records failed in a transaction: "
                    f"{failures[0][1].str()}"
                )
            producer.send_offsets_to_transaction(
                _next_offsets(records), consumer.consumer_group_metadata(), 30
            )
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

        Without transactions, from the batch's first offsets. With them the committed
        offsets are the truth (what was produced is exactly what was committed, also after
        a commit whose outcome was unclear): the batch's partitions are held until their
        stable committed offset is known (:meth:`_recheck`; the batch's first offset if
        nothing was ever committed). Before, an offset librdkafka could not answer became
        the partition's beginning: everything routed again.
        """
        assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        firsts = [tp for tp in _first_offsets(records) if (tp.topic, tp.partition) in assigned]
        if self._exactly_once:
            for tp in firsts:
                self._hold(consumer, (tp.topic, tp.partition), tp.offset)
            self._recheck(consumer, force=True)
            return
        for tp in firsts:
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


def _fatal(exc: KafkaException) -> bool:
    """Whether ``exc`` left the producer unusable (librdkafka's fatal errors)."""
    err = exc.args[0] if exc.args else None
    return isinstance(err, KafkaError) and err.fatal()


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
