"""End-to-end latency as a user feels it: PutEvents -> gateway -> router -> sink -> receiver.

For each router engine a fresh bus, webhook target and dump target are applied; ``kbridge
gateway``, ``kbridge router --engine <e>`` and ``kbridge sink`` run as subprocesses, exactly
as deployed. Events are sent with PutEvents at a steady offered rate (every 10 ms,
``rate / 100`` entries in requests of at most 10, many requests in flight so the rate is
really reached, written by a lean keep-alive client so the load generator's own CPU stays small),
each event carrying its send time. A minimal HTTP receiver (another process) stamps each
arrival; the dump path writes to SQLite, polled every 2 ms.

Printed per engine and rate: sent, missing (acknowledged but not delivered when the
drain window closed: a backlog, or a loss), p50/p99/max of send -> webhook arrival,
the dump path's p50/p99, and the per-hop breakdown from Kafka record timestamps
(send -> ingress record, ingress -> egress record, egress record -> arrival). The floor is a
plain confluent-kafka loop measured in the same run: produce (acks=all) -> consume -> HTTP
POST to the same receiver, at the same rates.

``--sink-only`` adds the sink hop alone: records as the router writes them, produced
straight to a webhook target's egress topic and delivered by a ``kbridge sink`` process.

    python bench/latency.py [--seconds 10] [--rates 100,500,2000] [--engines native,faust]
                            [--sink-only] [--no-floor]

Needs Kafka on 127.0.0.1:9092 (``KBRIDGE_TEST_KAFKA`` overrides it), or ``--fresh-broker``:
a new single node (deploy/kafka/kafka.sh, own home and ports) for this run only. A broker
that has served a test suite holds thousands of topics, hundreds of them buses that the
router's pattern subscription assigns (and parks) and every metadata refresh lists: a
fresh node measures what a deployment with its own cluster sees.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer

KAFKA = os.environ.get("KBRIDGE_TEST_KAFKA", "127.0.0.1:9092")
ROOT = Path(__file__).resolve().parents[1]
TICK = 0.01  # one PutEvents request per tick

RECEIVER = textwrap.dedent(
    """
    # HTTP/1.1 keep-alive receiver: stamps each request's arrival (time.time()) and prints
    # "<path> <seq> <arrival>" for the bench to collect; answers 200 at once.
    import asyncio, sys, time, orjson

    RESPONSE = b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n"
    out = sys.stdout

    def seq_of(body):
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return -1
        for key in ("detail", "data"):
            if isinstance(doc, dict) and isinstance(doc.get(key), dict):
                doc = doc[key]
        return doc.get("seq", -1) if isinstance(doc, dict) else -1

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\\r\\n\\r\\n")
                arrival = time.time()
                length = 0
                lines = head.split(b"\\r\\n")
                path = lines[0].split(b" ")[1].decode()
                for line in lines:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length) if length else b""
                writer.write(RESPONSE)
                out.write(f"{path} {seq_of(body)} {arrival:.6f}\\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def flush():
        while True:
            await asyncio.sleep(0.2)
            out.flush()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
        asyncio.ensure_future(flush())
        async with server:
            await server.serve_forever()

    asyncio.run(main())
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


class Receiver:
    """The receiver process and the arrivals it reported, per path."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, str(self.port)], stdout=subprocess.PIPE, text=True
        )
        self.arrivals: dict[str, dict[int, float]] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        wait_port(self.port)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            path, seq, arrival = line.split()
            with self.lock:
                self.arrivals.setdefault(path, {}).setdefault(int(seq), float(arrival))

    def got(self, path: str) -> dict[int, float]:
        with self.lock:
            return dict(self.arrivals.get(path, {}))

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Row:
    """One measured (contender, rate) cell."""

    contender: str
    rate: int
    sent: int = 0
    delivered: int = 0
    e2e: list[float] = field(default_factory=list)
    dump: list[float] = field(default_factory=list)
    hops: dict[str, list[float]] = field(default_factory=dict)
    achieved: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # µs per sent event, per process

    @property
    def missing(self) -> int:
        return self.sent - self.delivered


# ---- kbridge pipeline --------------------------------------------------------------------


class Pipeline:
    """kbridge processes as subprocesses against a private rules topic."""

    def __init__(self, tmp: Path, unique: str) -> None:
        self.tmp = tmp
        self.env = {
            **os.environ,
            "KBRIDGE_KAFKA__BOOTSTRAP_SERVERS": KAFKA,
            "KBRIDGE_RULES_TOPIC": f"kbridge.rules.bench-{unique}",
            "PYTHONUNBUFFERED": "1",
            "KBRIDGE_METRICS_PORT": "0",
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        self.names: list[str] = []

    def run(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "processor", *args],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self, name: str, *args: str) -> None:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115
        self.names.append(name)
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "processor", *args],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far per started process, its child processes included."""
        return {name: tree_cpu(proc.pid) for name, proc in zip(self.names, self.procs, strict=True)}

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def config(unique: str, engines: list[str], receiver: int, db: Path) -> str:
    buses = ", ".join(f"{{name: {e}-{unique}, partitions: 3}}" for e in engines)
    targets = []
    rules = []
    for e in engines:
        targets.append(
            f'  - {{name: hook-{e}-{unique}, kind: webhook, url: "http://127.0.0.1:{receiver}/{e}",'
            " allow_private_network: true, body: raw, partitions: 3}"
        )
        targets.append(
            f'  - {{name: dump-{e}-{unique}, kind: mysql, url: "sqlite:///{db}",'
            f" table: dump_{e}, partitions: 3}}"
        )
        rules.append(
            f"  - {{name: lat-{e}-{unique}, bus: {e}-{unique},"
            " pattern: {source: [bench.latency]},"
            f' targets: [{{target: hook-{e}-{unique}, transform: {{path: "$.data"}}}},'
            f" {{target: dump-{e}-{unique}}}]}}"
        )
    return (
        f"buses: [{buses}]\ntargets:\n"
        + "\n".join(targets)
        + "\nrules:\n"
        + "\n".join(rules)
        + "\n"
    )


class DumpPoller:
    """Polls the SQLite dump table every 2 ms and stamps each new row's first sighting."""

    def __init__(self, db: Path, table: str) -> None:
        self.db = db
        self.table = table
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        last = 0
        conn: sqlite3.Connection | None = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = sqlite3.connect(self.db, timeout=1)
                rows = conn.execute(
                    f"SELECT rowid, id FROM {self.table} WHERE rowid > ?", (last,)
                ).fetchall()
            except sqlite3.Error:
                rows = []
            now = time.time()
            for rowid, event_id in rows:
                self.seen.setdefault(event_id, now)
                last = max(last, rowid)
            time.sleep(0.002)


MAX_ENTRIES = 10  # PutEvents accepts at most 10 entries per request (AWS quota)


class PutClient:
    """PutEvents over keep-alive HTTP/1.1 connections with hand-built requests.

    The load generator shares the two cores with everything it measures: httpx spent about
    as much CPU per request as the gateway itself, so requests are written straight onto
    asyncio streams (a pool of up to ``size`` connections) and only the response body is
    parsed.
    """

    def __init__(self, url: str, size: int = 64) -> None:
        rest = url.split("://", 1)[1]
        hostport, path = rest.split("/", 1)
        host, port = hostport.split(":")
        self.host, self.port, self.path = host, int(port), "/" + path
        self.size = size
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.open = 0
        self.free = asyncio.Condition()

    async def _take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with self.free:
            while not self.idle and self.open >= self.size:
                await self.free.wait()
            if self.idle:
                return self.idle.pop()
            self.open += 1
        try:
            return await asyncio.open_connection(self.host, self.port)
        except OSError:
            async with self.free:
                self.open -= 1
                self.free.notify()
            raise

    async def _give(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
        async with self.free:
            if conn is None:
                self.open -= 1
            else:
                self.idle.append(conn)
            self.free.notify()

    async def post(self, body: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
        """POST ``body`` (JSON); the status and response body ((0, b"") on a failure)."""
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            conn = await self._take()
        except OSError:
            return 0, b""
        reader, writer = conn
        try:
            writer.write(head + body)
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            lines = raw.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            length = 0
            for line in lines[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            answer = await asyncio.wait_for(reader.readexactly(length), timeout)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ValueError,
        ):
            writer.close()
            await self._give(None)
            return 0, b""
        await self._give(conn)
        return status, answer

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def offer(
    url: str, bus: str, rate: int, seconds: float, seq0: int
) -> tuple[dict[int, float], dict[str, int]]:
    """Send ``rate`` ev/s for ``seconds``; return send time per seq and seq per event id.

    Every tick (10 ms) sends ``rate / 100`` entries, in requests of at most 10 entries.
    """
    per_tick = max(1, round(rate * TICK))
    sent: dict[int, float] = {}
    ids: dict[str, int] = {}
    refused = [0]
    client = PutClient(url)
    tasks: list[asyncio.Task[None]] = []
    pad = "x" * 200

    async def put(seqs: list[int]) -> None:
        now = time.time()
        entries = [
            {
                "Source": "bench.latency",
                "DetailType": "Tick",
                "Detail": orjson.dumps({"seq": s, "sent": now, "pad": pad}).decode(),
            }
            for s in seqs
        ]
        status, body = await client.post(orjson.dumps({"Entries": entries}))
        try:
            answer = orjson.loads(body) if status == 200 else {}
        except orjson.JSONDecodeError:
            answer = {}
        for s, entry in zip(seqs, answer.get("Entries", []), strict=False):
            if entry.get("EventId"):  # only acknowledged entries count as sent
                ids[entry["EventId"]] = s
                sent[s] = now
        refused[0] += len(seqs) - sum(1 for s in seqs if s in sent)

    start = time.perf_counter()
    seq = seq0
    ticks = int(seconds / TICK)
    for t in range(ticks):
        target = start + t * TICK
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        for first in range(seq, seq + per_tick, MAX_ENTRIES):
            last = min(first + MAX_ENTRIES, seq + per_tick)
            tasks.append(asyncio.create_task(put(list(range(first, last)))))
        seq += per_tick
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.close()
    if refused[0]:
        print(f"  ({refused[0]} entries not acknowledged by the gateway)", flush=True)
    return sent, ids


def topic_times(topic: str, want: set[str]) -> dict[str, float]:
    """Record timestamps (s) by ce_id, read from the start of ``topic``."""
    consumer = Consumer(
        {
            "bootstrap.servers": KAFKA,
            "group.id": f"bench-read-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found: dict[str, float] = {}
    deadline = time.monotonic() + 30
    idle = 0
    try:
        while time.monotonic() < deadline and not want <= found.keys() and idle < 6:
            batch = consumer.consume(1000, 0.5)
            idle = 0 if batch else idle + 1
            for msg in batch:
                if msg.error() is not None:
                    continue
                ce_id = dict(msg.headers() or []).get("ce_id")
                if ce_id is not None:  # the first copy (a re-routed duplicate comes later)
                    found.setdefault(ce_id.decode(), msg.timestamp()[1] / 1000.0)
    finally:
        consumer.close()
    return found


def measure_engine(
    engine: str,
    unique: str,
    rates: list[int],
    seconds: float,
    receiver: Receiver,
    gw: int,
    db: Path,
    kb: Pipeline,
) -> list[Row]:
    bus = f"{engine}-{unique}"
    url = f"http://127.0.0.1:{gw}/v1/buses/{bus}/events"
    poller = DumpPoller(db, f"dump_{engine}")
    rows: list[Row] = []
    seq = 0
    # warm-up: until one event makes it through (group joins, connections)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not receiver.got(f"/{engine}"):
        asyncio.run(offer(url, bus, 100, 0.05, 10_000_000 + seq))
        seq += 10
        time.sleep(1)
    if not receiver.got(f"/{engine}"):
        raise RuntimeError(f"{engine}: nothing delivered during warm-up")
    time.sleep(2)
    seq = 0
    for rate in rates:
        cpu_before = kb.cpu()
        own_before = time.process_time()
        began = time.perf_counter()
        sent, ids = asyncio.run(offer(url, bus, rate, seconds, seq))
        offered_for = time.perf_counter() - began
        seq += rate * int(seconds) * 2 + 1000
        deadline = time.monotonic() + 60
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 10:
            got = receiver.got(f"/{engine}")
            if all(s in got for s in sent) and all(i in poller.seen for i in ids):
                break
            if len(got) != last:
                last, quiet_since = len(got), time.monotonic()
            time.sleep(0.2)
        got = receiver.got(f"/{engine}")
        cpu_after = kb.cpu()
        own = time.process_time() - own_before
        row = Row(
            f"kbridge, {engine} engine", rate, sent=len(sent), achieved=len(sent) / offered_for
        )
        if sent:
            used = {
                n: cpu_after[n] - cpu_before.get(n, 0.0)
                for n in cpu_after
                if engine in n or n == "gateway"
            }
            used["load generator + collectors"] = own
            row.cpu = {n: v * 1e6 / len(sent) for n, v in used.items()}
        row.e2e = [got[s] - t for s, t in sent.items() if s in got]
        row.delivered = sum(1 for s in sent if s in got)
        by_seq = {s: i for i, s in ids.items()}
        row.dump = [
            poller.seen[by_seq[s]] - t for s, t in sent.items() if by_seq.get(s) in poller.seen
        ]
        want = set(by_seq[s] for s in sent if s in by_seq)
        ingress = topic_times(f"kbridge.bus.{bus}", want)
        egress = topic_times(f"kbridge.target.hook-{engine}-{unique}", want)
        hops: dict[str, list[float]] = {"gateway": [], "router": [], "sink": []}
        for s, t in sent.items():
            i = by_seq.get(s)
            if i in ingress and i in egress and s in got:
                hops["gateway"].append(ingress[i] - t)
                hops["router"].append(egress[i] - ingress[i])
                hops["sink"].append(got[s] - egress[i])
        row.hops = hops
        rows.append(row)
        print(summary(row), flush=True)
    poller.stop.set()
    return rows


# ---- the floor: plain confluent-kafka produce -> consume -> HTTP POST ----------------------


def measure_floor(rates: list[int], seconds: float, receiver: Receiver) -> list[Row]:
    from processor.kafka import KafkaClientConfig, TopicSpec, ensure_topics

    topic = f"bench-floor-{uuid.uuid4().hex[:8]}"
    ensure_topics(KafkaClientConfig(bootstrap_servers=KAFKA), [TopicSpec(topic, 3)])
    stop = threading.Event()
    consumer = Consumer(
        {
            "bootstrap.servers": KAFKA,
            "group.id": f"{topic}-g",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])

    def loop() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port)
        while not stop.is_set():
            msg = consumer.poll(0.1)
            if msg is None or msg.error() is not None:
                continue
            conn.request("POST", "/floor", body=msg.value())
            conn.getresponse().read()
            consumer.commit(msg, asynchronous=True)
        consumer.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    producer = Producer(
        {"bootstrap.servers": KAFKA, "acks": "all", "enable.idempotence": True, "linger.ms": 0}
    )
    producer.produce(topic, b'{"seq": -5}')
    producer.flush()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and -5 not in receiver.got("/floor"):
        time.sleep(0.1)
    rows = produce_at_rates(
        producer, topic, "/floor", "plain confluent-kafka loop (floor)", rates, seconds, receiver
    )
    stop.set()
    thread.join(5)
    return rows


def produce_at_rates(
    producer: Producer,
    topic: str,
    path: str,
    contender: str,
    rates: list[int],
    seconds: float,
    receiver: Receiver,
    headers: bool = False,
    cpu_of: int | None = None,
) -> list[Row]:
    """Produce ``{"seq": n}`` records at each rate; latency = produce call -> arrival.

    With ``cpu_of`` (a pid), the CPU that process used per delivered record is reported.
    """
    rows = []
    seq = 0
    for rate in rates:
        cpu_before = cpu_seconds(cpu_of) if cpu_of else 0.0
        sent: dict[int, float] = {}
        per_tick = max(1, round(rate * TICK))
        start = time.perf_counter()
        for t in range(int(seconds / TICK)):
            delay = start + t * TICK - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            now = time.time()
            for s in range(seq, seq + per_tick):
                sent[s] = now
                value = orjson.dumps({"seq": s, "pad": "x" * 200})
                if headers:  # what the router writes to an egress topic (binary mode)
                    ce = {
                        "ce_specversion": "1.0",
                        "ce_id": f"lat-{s}",
                        "ce_source": "bench.latency",
                        "ce_type": "Tick",
                        "content-type": "application/json",
                        "kbridge-rule": "lat",
                        "kbridge-ingested-at": f"{now:.6f}",
                    }
                    hs = [(k, v.encode()) for k, v in ce.items()]
                    producer.produce(topic, value, key=str(s), headers=hs)
                else:
                    producer.produce(topic, value, key=str(s))
            seq += per_tick
            producer.poll(0)
        producer.flush()
        offered_for = time.perf_counter() - start
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(s in receiver.got(path) for s in sent):
            time.sleep(0.2)
        got = receiver.got(path)
        row = Row(contender, rate, sent=len(sent))
        row.achieved = len(sent) / offered_for
        row.e2e = [got[s] - t for s, t in sent.items() if s in got]
        row.delivered = sum(1 for s in sent if s in got)
        rows.append(row)
        print(summary(row), flush=True)
        if cpu_of and row.delivered:
            used = cpu_seconds(cpu_of) - cpu_before
            print(
                f"  sink process CPU: {used * 1e6 / row.delivered:.0f} µs per delivery", flush=True
            )
    return rows


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its live child processes (the gateway's workers)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measure_sink_only(rates: list[int], seconds: float, receiver: Receiver) -> list[Row]:
    """The sink hop alone: records produced straight to a webhook target's egress topic
    (as the router would write them), delivered by a ``kbridge sink`` process."""
    unique = uuid.uuid4().hex[:6]
    name = f"hook-sink-{unique}"
    with tempfile.TemporaryDirectory(prefix="kbridge-latency-") as tmp_name:
        tmp = Path(tmp_name)
        kb = Pipeline(tmp, unique)
        (tmp / "kbridge.yaml").write_text(
            f"buses: [{{name: sinkonly-{unique}, partitions: 3}}]\n"
            f'targets:\n  - {{name: {name}, kind: webhook, url: "http://127.0.0.1:'
            f'{receiver.port}/sink", allow_private_network: true, body: raw, partitions: 3}}\n'
            f"rules:\n  - {{name: lat, bus: sinkonly-{unique}, pattern: {{source: [x]}},"
            f" targets: [{{target: {name}}}]}}\n"
        )
        kb.run("apply", "-f", str(tmp / "kbridge.yaml"))
        kb.start("sink-only", "sink", name)
        producer = Producer(
            {"bootstrap.servers": KAFKA, "acks": "all", "enable.idempotence": True, "linger.ms": 0}
        )
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and -5 not in receiver.got("/sink"):
                producer.produce(
                    f"kbridge.target.{name}", b'{"seq": -5}', headers=[("ce_id", b"w")]
                )
                producer.flush()
                time.sleep(1)
            return produce_at_rates(
                producer,
                f"kbridge.target.{name}",
                "/sink",
                "kbridge sink alone (egress topic -> webhook)",
                rates,
                seconds,
                receiver,
                headers=True,
                cpu_of=kb.procs[-1].pid,
            )
        finally:
            kb.stop()


# ---- output -------------------------------------------------------------------------------


def ms(value: float) -> str:
    return (
        "-"
        if value != value
        else f"{value * 1000:.0f} ms"
        if value >= 0.01
        else f"{value * 1000:.1f} ms"
    )


def summary(row: Row) -> str:
    top = max(row.e2e, default=float("nan"))
    return (
        f"{row.contender} @ {row.rate}/s: sent {row.sent} ({row.achieved:.0f}/s), "
        f"missing {row.missing}, "
        f"p50 {ms(pct(row.e2e, 0.5))} p99 {ms(pct(row.e2e, 0.99))} max {ms(top)}"
    )


def cpu_table(rows: list[Row]) -> str:
    """CPU µs per sent event of each process (where the two cores went), per row."""
    names = sorted({n for r in rows for n in r.cpu})
    if not names:
        return ""
    lines = [
        "| contender | offered ev/s | " + " | ".join(names) + " | total |",
        "|---|---:|" + "---:|" * (len(names) + 1),
    ]
    for r in rows:
        if r.cpu:
            cells = " | ".join(f"{r.cpu[n]:,.0f}" if n in r.cpu else "-" for n in names)
            lines.append(f"| {r.contender} | {r.rate:,} | {cells} | {sum(r.cpu.values()):,.0f} |")
    return "CPU µs per sent event, per process (the broker not counted):\n\n" + "\n".join(lines)


def table(rows: list[Row]) -> str:
    lines = [
        "| contender | offered ev/s | sent (achieved/s) | missing | p50 | p99 | max "
        "| dump p50 / p99 | gateway p50/p99 | router p50/p99 | sink p50/p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        hop = {k: f"{ms(pct(v, 0.5))} / {ms(pct(v, 0.99))}" for k, v in r.hops.items()}
        dump = f"{ms(pct(r.dump, 0.5))} / {ms(pct(r.dump, 0.99))}" if r.dump else "-"
        top = max(r.e2e, default=float("nan"))
        hops = " | ".join(hop.get(k, "-") for k in ("gateway", "router", "sink"))
        lines.append(
            f"| {r.contender} | {r.rate:,} | {r.sent:,} ({r.achieved:,.0f}) | {r.missing} "
            f"| {ms(pct(r.e2e, 0.5))} | {ms(pct(r.e2e, 0.99))} | {ms(top)} | {dump} | {hops} |"
        )
    return "\n".join(lines)


@contextmanager
def fresh_broker() -> Iterator[str]:
    """A single Kafka node of this run alone; its bootstrap address."""
    with tempfile.TemporaryDirectory(prefix="kbridge-latency-kafka-") as home:
        port = free_port()
        env = {
            **os.environ,
            "KBRIDGE_KAFKA_HOME": home,
            "KBRIDGE_KAFKA_PORT": str(port),
            "KBRIDGE_KAFKA_CONTROLLER_PORT": str(free_port()),
            "KBRIDGE_KAFKA_SASL_PORT": str(free_port()),
        }
        script = ROOT / "deploy" / "kafka" / "kafka.sh"
        print(f"starting a fresh Kafka node on 127.0.0.1:{port}", flush=True)
        subprocess.run(["bash", str(script), "start"], env=env, check=True, timeout=300)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            subprocess.run(["bash", str(script), "stop"], env=env, check=False, timeout=120)


@contextmanager
def pipeline(engines: list[str], receiver: Receiver) -> Iterator[tuple[str, int, Path, Pipeline]]:
    unique = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="kbridge-latency-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "dump.db"
        kb = Pipeline(tmp, unique)
        (tmp / "kbridge.yaml").write_text(config(unique, engines, receiver.port, db))
        kb.run("apply", "-f", str(tmp / "kbridge.yaml"))
        gw = free_port()
        kb.start("gateway", "gateway", "--port", str(gw))
        for e in engines:
            kb.start(f"router-{e}", "router", "--engine", e, "--group-id", f"lat-{e}-{unique}")
            kb.start(f"sink-hook-{e}", "sink", f"hook-{e}-{unique}")
            kb.start(f"sink-dump-{e}", "sink", f"dump-{e}-{unique}")
        try:
            wait_port(gw, 90)
            yield unique, gw, db, kb
        finally:
            kb.stop()
            if os.environ.get("KBRIDGE_BENCH_LOGS"):
                for log in sorted(tmp.glob("*.log")):
                    print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", default="100,500,2000")
    parser.add_argument("--engines", default="native,faust")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument(
        "--fresh-broker",
        action="store_true",
        help="run against a new Kafka node of this run alone (see the module docstring)",
    )
    parser.add_argument(
        "--sink-only",
        action="store_true",
        help="also measure the sink hop alone (egress topic -> webhook)",
    )
    args = parser.parse_args()
    if args.fresh_broker:
        with fresh_broker() as bootstrap:
            global KAFKA
            KAFKA = bootstrap
            run(args)
    else:
        run(args)


def run(args: argparse.Namespace) -> None:
    """Every measurement of one invocation, then the tables."""
    print(f"load average before: {os.getloadavg()}", flush=True)
    rates = [int(r) for r in args.rates.split(",")]
    engines = [e for e in args.engines.split(",") if e]
    receiver = Receiver()
    rows: list[Row] = []
    try:
        if not args.no_floor:
            rows += measure_floor(rates, args.seconds, receiver)
        if args.sink_only:
            rows += measure_sink_only(rates, args.seconds, receiver)
        if engines:
            with pipeline(engines, receiver) as (unique, gw, db, kb):
                for engine in engines:
                    rows += measure_engine(
                        engine, unique, rates, args.seconds, receiver, gw, db, kb
                    )
    finally:
        receiver.close()
    print(
        f"\n{args.seconds:.0f} s per rate; latency = PutEvents send (floor and sink alone: "
        f"produce call) -> webhook arrival; load average after: {os.getloadavg()}\n"
    )
    print(table(rows))
    if any(r.cpu for r in rows):
        print("\n" + cpu_table(rows))
    missing = sum(r.missing for r in rows)
    if missing:
        print(
            f"\nMISSING: {missing} acknowledged events were not delivered within the drain "
            "window (a backlog the pipeline could not clear, or a loss)",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
