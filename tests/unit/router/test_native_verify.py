"""The native engine's exactly-once start check (issue 21): which records may be routed.

The consumer here is a recording stand-in for confluent-kafka's: ``committed`` answers
from a dict (a missing partition times out, as librdkafka does while a transaction holds
the offset), ``seek``/``pause``/``resume`` are recorded. The end-to-end behaviour against a
real broker is in tests/e2e/test_router_guarantees.py.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from processor.kafka import KafkaClientConfig
from processor.router.engines.native import NativeRouter
from processor.router.live import LiveTable
from processor.router.records import InRecord

TOPIC = "kbridge.bus.orders"


class Consumer:
    """Answers ``committed`` from ``offsets``; a partition not in it is 'unstable'."""

    def __init__(self, offsets: dict[int, int]) -> None:
        self.offsets = offsets
        self.calls: list[tuple[str, int, int]] = []

    def committed(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        if any(tp.partition not in self.offsets for tp in tps):
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        return [TopicPartition(tp.topic, tp.partition, self.offsets[tp.partition]) for tp in tps]

    def seek(self, tp: TopicPartition) -> None:
        self.calls.append(("seek", tp.partition, tp.offset))

    def pause(self, tps: list[TopicPartition]) -> None:
        self.calls += [("pause", tp.partition, -1) for tp in tps]

    def resume(self, tps: list[TopicPartition]) -> None:
        self.calls += [("resume", tp.partition, -1) for tp in tps]


def records(partition: int, start: int, n: int) -> list[InRecord]:
    return [InRecord(TOPIC, partition, start + i, b"k", b"{}") for i in range(n)]


def router() -> NativeRouter:
    return NativeRouter(KafkaClientConfig(), LiveTable(), exactly_once=True)


def check(r: NativeRouter, consumer: Consumer, batch: list[InRecord]) -> list[InRecord]:
    first: dict[tuple[str, int], int] = {}
    for rec in batch:
        if (rec.topic, rec.partition) not in r._verified:
            first.setdefault((rec.topic, rec.partition), rec.offset)
    return r._verify(consumer, batch, first)  # type: ignore[arg-type]


def test_records_at_the_committed_offset_are_routed_and_checked_once() -> None:
    r, consumer = router(), Consumer({0: 100})
    batch = records(0, 100, 5)
    assert check(r, consumer, batch) == batch
    assert consumer.calls == []
    consumer.offsets.clear()  # a later batch does not ask again
    later = records(0, 105, 5)
    assert check(r, consumer, later) == later


def test_a_partition_never_committed_starts_where_the_consumer_did() -> None:
    r, consumer = router(), Consumer({0: -1001})  # OFFSET_INVALID: nothing committed
    batch = records(0, 0, 3)
    assert check(r, consumer, batch) == batch


def test_a_partition_started_below_the_committed_offset_seeks_there_and_drops_the_batch() -> None:
    # librdkafka's reset to auto.offset.reset while an open transaction held the offset
    r, consumer = router(), Consumer({0: 1800, 1: 40})
    batch = records(0, 0, 3) + records(1, 40, 2)
    assert check(r, consumer, batch) == records(1, 40, 2)
    assert consumer.calls == [("seek", 0, 1800)]
    again = records(0, 1800, 2)
    assert check(r, consumer, again) == again


def test_an_unstable_offset_pauses_only_its_partition_until_it_is_stable() -> None:
    r, consumer = router(), Consumer({1: 7})
    batch = records(0, 0, 3) + records(1, 7, 2)
    assert check(r, consumer, batch) == records(1, 7, 2)
    assert consumer.calls == [("pause", 0, -1)]
    assert check(r, consumer, records(0, 3, 2)) == []  # fetched before the pause took effect
    r._recheck(consumer, force=True)  # type: ignore[arg-type]
    assert consumer.calls == [("pause", 0, -1)], "still unstable: still paused"
    consumer.offsets[0] = 1800  # the coordinator aborted the dead router's transaction
    r._recheck(consumer, force=True)  # type: ignore[arg-type]
    assert consumer.calls[1:] == [("resume", 0, -1), ("seek", 0, 1800)]
    assert check(r, consumer, records(0, 1800, 1)) == records(0, 1800, 1)


def test_a_failed_transaction_resumes_at_the_committed_offset_not_the_beginning() -> None:
    r, consumer = router(), Consumer({0: 500})
    consumer_assigned = [TopicPartition(TOPIC, 0)]
    consumer.assignment = lambda: consumer_assigned  # type: ignore[attr-defined]
    r._verified.add((TOPIC, 0))
    r._rewind(consumer, records(0, 500, 10))  # type: ignore[arg-type]
    assert consumer.calls == [("pause", 0, -1), ("resume", 0, -1), ("seek", 0, 500)]
    consumer.calls.clear()
    consumer.offsets[0] = -1001  # nothing ever committed: the batch's first offset
    r._rewind(consumer, records(0, 0, 10))  # type: ignore[arg-type]
    assert consumer.calls == [("pause", 0, -1), ("resume", 0, -1), ("seek", 0, 0)]
