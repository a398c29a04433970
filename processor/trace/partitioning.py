"""Which partition of ``kbridge.trace`` holds an event's records.

The writer groups the records of many events into one Kafka record per partition and
picks the partition itself from a CRC32 of the event id (:func:`trace_partition`); the
lookup computes the same partition so that it reads one partition instead of all of them.
Records written before that (format 1: one Kafka record per trace record, keyed by event
id, placed by Kafka's default partitioner) sit on the :func:`partition_for` partition
(murmur2 of the key, as :data:`processor.kafka.producer.PARTITIONER` configures
librdkafka); the lookup falls back to it. Pure.
"""

from __future__ import annotations

import zlib

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (``org.apache.kafka.common.utils.Utils.murmur2``), as a signed int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    rest = length % 4
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key`` among ``partitions``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


SAMPLE_SCALE = 10_000
"""Sampling resolution: an event is traced when ``trace_hash(id) % SAMPLE_SCALE`` is below
``sample * SAMPLE_SCALE`` (every process computes the same hash, so all stages agree)."""


def trace_hash(event_id: bytes) -> int:
    """The event id's hash that decides both sampling and the trace partition.

    CRC32 (``zlib``, in C: about 0.1 µs) rather than :func:`murmur2` (pure Python, several
    µs): the writer computes it for every traced event, and it chooses the partition itself
    because it batches many events' records into one Kafka record (no key to hash).
    """
    return zlib.crc32(event_id)


def trace_partition(event_id: bytes, partitions: int) -> int:
    """The partition of ``kbridge.trace`` that holds ``event_id``'s records (format 2).

    Uses the hash's high part (``// SAMPLE_SCALE``), independent of the low part sampling
    uses, so that a sampled bus still spreads its records over every partition.
    """
    return trace_hash(event_id) // SAMPLE_SCALE % partitions
