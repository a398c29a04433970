"""How the demo sees what happened: router metrics, bus and dead-letter topics, SQL tables."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any


def kafka_conf(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """librdkafka properties from the KBRIDGE_KAFKA__* settings (security too), at ``bootstrap``."""
    from processor.settings import load_settings

    return load_settings().kafka.librdkafka(**{"bootstrap.servers": bootstrap, **overrides})


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse a Prometheus text exposition into {(name, labels): value}."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$", line)
        if not m or line.startswith("#"):
            continue
        labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
        with contextlib.suppress(ValueError):
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric_sum(metrics: dict[Any, float], name: str, **match: str) -> float:
    return sum(v for (n, labels), v in metrics.items()
               if n == name and all((k, val) in labels for k, val in match.items()))


def histogram_quantile(metrics: dict[Any, float], name: str, q: float) -> float | None:
    buckets: dict[float, float] = {}
    for (n, labels), v in metrics.items():
        if n == f"{name}_bucket":
            le = dict(labels)["le"]
            bound = float("inf") if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0.0) + v
    if not buckets or max(buckets.values()) == 0:
        return None
    total = buckets[float("inf")]
    for bound in sorted(buckets):
        if buckets[bound] >= q * total:
            return bound
    return None


class BusWatcher:
    """Reads a bus topic from its current end: the function target's published results.

    On a thread of its own from the start, so each result's arrival is stamped when it is
    written, not when the demo (busy sending the other scenarios) would get round to it.
    """

    def __init__(self, bootstrap: str, topic: str, source: str) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self.source = source
        self.results: list[dict[str, Any]] = []
        #: When the newest result was read (monotonic clock).
        self.last_at: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._consumer = Consumer(
            kafka_conf(bootstrap, **{"group.id": "kbridge-demo", "enable.auto.commit": False})
        )
        meta = self._consumer.list_topics(topic, timeout=10).topics[topic]
        parts = []
        for p in meta.partitions:
            _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            parts.append(TopicPartition(topic, p, high))
        self._consumer.assign(parts)
        self._thread = threading.Thread(target=self._run, name="demo-bus-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from processor.events.kafka import decode_json_form

        while not self._stop.is_set():
            for msg in self._consumer.consume(500, timeout=0.02):
                if msg.error() is not None:
                    continue
                with contextlib.suppress(Exception):
                    headers: Any = msg.headers()  # a list of (name, value) from a consumer
                    form = decode_json_form(msg.value(), headers)
                    if form.get("source") == self.source:
                        with self._lock:
                            self.results.append(form)
                            self.last_at = time.monotonic()

    def snapshot(self) -> list[dict[str, Any]]:
        """The results read so far."""
        with self._lock:
            return list(self.results)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


class CountWatch:
    """Polls ``count`` on a thread from the moment a scenario was sent, keeping when it first
    reached ``want``.

    The demo sends all three scenarios before it waits for deliveries; a table polled only
    then would add the time spent sending the later scenarios to the earlier ones'
    "delivered after". The demo's progress line reads :meth:`count` too, so the table is
    polled by this thread alone.
    """

    def __init__(self, count: Callable[[], int], want: int, every: float = 0.1) -> None:
        self.at: float | None = None
        self.seen = 0
        self._count = count
        self._want = want
        self._every = every
        self._stop = threading.Event()
        threading.Thread(target=self._run, name="demo-count-watch", daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen = self._count()
            if self.seen >= self._want:
                self.at = time.monotonic()
                return
            self._stop.wait(self._every)

    def count(self) -> int:
        """The count at the last poll."""
        return self.seen

    def arrived(self) -> float | None:
        """When the count reached ``want`` (monotonic clock), or None so far."""
        return self.at

    def close(self) -> None:
        self._stop.set()


def topic_ends(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Sum of the high watermarks of each existing topic (0 for missing ones)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(kafka_conf(bootstrap, **{"group.id": "kbridge-demo-offsets"}))
    try:
        meta = consumer.list_topics(timeout=10).topics
        out = {}
        for topic in topics:
            total = 0
            for p in (meta[topic].partitions if topic in meta else {}):
                total += consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            out[topic] = total
        return out
    finally:
        consumer.close()


def sql_count(url: str, table: str, column: str, values: list[str]) -> int:
    """Rows of ``table`` whose ``column`` is one of ``values`` (0 while the table is missing).

    Polled every 100 ms while a scenario runs, so it stays cheap: one engine per database
    (no new connection pool per call) and a plain query instead of reflecting the table
    (which cost tens of ms of CPU per call and held SQLite's lock against the sink's
    writes).
    """
    import sqlalchemy as sa

    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES.setdefault(url, sa.create_engine(url))
    names = ", ".join(f":v{i}" for i in range(len(values)))
    query = sa.text(f"SELECT COUNT(*) FROM {table} WHERE {column} IN ({names})")
    try:
        with engine.connect() as conn:
            return int(conn.execute(query, {f"v{i}": v for i, v in enumerate(values)}).scalar_one())
    except (sa.exc.OperationalError, sa.exc.ProgrammingError, sqlite3.Error):
        return 0


_ENGINES: dict[str, Any] = {}
"""One SQLAlchemy engine per database URL the demo polls."""
