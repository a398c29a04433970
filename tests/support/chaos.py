"""The chaos suite's one home: a 3-node cluster, the whole pipeline, load, faults, counts.

``bench/chaos.py`` runs these scenarios at full scale and ``tests/chaos/`` a few of them at a
reduced one; both call :func:`run_scenario` with a :class:`Scale`, so what CI checks is what
the bench measures (issue 21, "The chaos suite").

The pipeline is kbridge as deployed, every part a subprocess: ``kbridge gateway`` (PutEvents)
→ ``kbridge.bus.<bus>`` → ``kbridge router --engine <e>`` → ``kbridge.target.<t>`` →
``kbridge sink`` delivering to a webhook receiver in this process (it records each
``X-Kbridge-Event-Id``) and to a table on a private MariaDB. The cluster is three KRaft
nodes from ``deploy/kafka/kafka.sh start --nodes 3`` (ports 19092-19094, replication factor
3, min.insync.replicas 2) in a home folder of its own; the shared node on 9092 and the
shared MariaDB on 3306 are never touched.

Every event carries an id the load generator chose (``EventId`` entry field), so the counts
are exact: *acked* are the ids the gateway answered with an ``EventId``; an acked event is
*lost* when, once the backlog drained (or the drain timeout passed), it is neither at the
receiver and in MariaDB nor in a dead-letter topic. *Duplicates* are webhook calls beyond
the first per id (MariaDB upserts by id, so its rows are exactly-once by design).
*Recovery* is the time from the fault's end until every event acked before that moment was
delivered or dead-lettered.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import random
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from processor.kafka import KafkaClientConfig
from processor.kafka.admin import delete_topics
from tests.support.kbridge import Kbridge
from tests.support.private_kafka import KAFKA_SH, free_port
from tests.support.private_mariadb import PrivateMariaDB

log = logging.getLogger("kbridge.chaos")

CLUSTER_PORTS = (19092, 19093, 19094)  # fixed by deploy/kafka/kafka.sh --nodes 3
CLUSTER_BOOTSTRAP = ",".join(f"127.0.0.1:{p}" for p in CLUSTER_PORTS)


# --------------------------------------------------------------------------- services


class Cluster:
    """A 3-node cluster of kafka.sh in ``home``; nodes are stopped, killed and restarted."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "KBRIDGE_KAFKA_HOME": str(home)}
        self.bootstrap = CLUSTER_BOOTSTRAP

    def _sh(self, *args: str, **env: str) -> None:
        subprocess.run(
            ["bash", str(KAFKA_SH), *args],
            env={**self.env, **env},
            check=True,
            timeout=240,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        """Start every node not running (kafka.sh waits until all three answer)."""
        if not (self.home / "node-1").exists():
            for port in CLUSTER_PORTS:
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        raise RuntimeError(
                            f"127.0.0.1:{port} is taken: another 3-node cluster runs "
                            "(deploy/kafka/kafka.sh --nodes 3 has fixed ports); stop it first"
                        )
        self._sh("start", "--nodes", "3")

    def stop(self, *, fast: bool = False) -> None:
        """Stop every node; ``fast`` kills them (for a cluster thrown away afterwards)."""
        if fast:
            for node in (1, 2, 3):
                with contextlib.suppress(OSError, ValueError):
                    self.kill_node(node)
        self._sh("stop")

    def stop_node(self, node: int) -> None:
        """A controlled shutdown (SIGTERM, as kafka.sh stop does)."""
        self._sh("stop-node", NODE_ID=str(node))

    def kill_node(self, node: int) -> None:
        """SIGKILL: no controlled shutdown, no leadership handed over."""
        pid = int((self.home / f"node-{node}" / "pid").read_text())
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def coordinator(self, group: str) -> int:
        """The node id of ``group``'s coordinator (the broker whose loss costs commits)."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        described = admin.describe_consumer_groups([group])[group].result(timeout=20)
        return int(described.coordinator.id)


class _QuietServer(http.server.ThreadingHTTPServer):
    """No traceback when a killed sink resets its connections (that is the scenario)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("webhook connection from %s ended abruptly", client_address)


class Receiver:
    """A loopback webhook receiver counting deliveries per ``X-Kbridge-Event-Id``.

    ``fail_ratio`` of the calls are answered 429 with ``Retry-After: 1``; ``hang_ratio`` of
    them get no answer for ``hang_seconds`` (longer than the sink's 5 s request timeout) and
    then a closed connection. Only a 200 counts as delivered.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.fail_ratio = 0.0
        self.hang_ratio = 0.0
        self.hang_seconds = 8.0
        self.refused = 0
        self.hung = 0
        self.rng = random.Random(21)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                event_id = self.headers.get("X-Kbridge-Event-Id", "")
                with receiver.lock:
                    draw = receiver.rng.random()
                    hang = draw < receiver.hang_ratio
                    fail = not hang and draw < receiver.hang_ratio + receiver.fail_ratio
                if hang:
                    with receiver.lock:
                        receiver.hung += 1
                    time.sleep(receiver.hang_seconds)
                    self.close_connection = True
                    return
                if fail:
                    with receiver.lock:
                        receiver.refused += 1
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.counts[event_id] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ids(self, prefix: str) -> Counter[str]:
        with self.lock:
            return Counter({k: v for k, v in self.counts.items() if k.startswith(prefix)})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class DeadLetters:
    """Reads dead-letter topics in the background: event id → (topic, stage, error code)."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.seen: dict[str, tuple[str, str, str]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"chaos-dlq-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "topic.metadata.refresh.interval.ms": 2000,
                "log_level": 0,
            }
        )
        self.consumer.subscribe(topics)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            for msg in self.consumer.consume(500, timeout=0.5):
                if msg.error() is not None:
                    continue
                headers = {k: (v or b"").decode(errors="replace") for k, v in msg.headers() or []}
                event_id = headers.get("ce_id", "")
                with self.lock:
                    self.seen[event_id] = (
                        str(msg.topic()),
                        headers.get("kbridge-failed-stage", ""),
                        headers.get("kbridge-error-code", ""),
                    )

    def ids(self, prefix: str) -> dict[str, tuple[str, str, str]]:
        with self.lock:
            return {k: v for k, v in self.seen.items() if k.startswith(prefix)}

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        self.consumer.close()


# --------------------------------------------------------------------------- the pipeline


class Pipeline:
    """One engine's bus, targets and kbridge processes on the cluster.

    Targets: ``hook`` (webhook to the receiver) and ``db`` (mysql on the private MariaDB)
    get every event whose ``detail.to`` is ``sinks``; ``gone`` (a kafka target) those whose
    ``detail.to`` is ``gone`` — the unwritable-target scenario deletes its egress topic.
    """

    def __init__(
        self,
        kbridge: Kbridge,
        engine: str,
        receiver: Receiver,
        mysql_url: str,
        *,
        unwritable_timeout: float = 60.0,
    ) -> None:
        self.kbridge = kbridge
        self.engine = engine
        self.receiver = receiver
        self.mysql_url = mysql_url
        u = f"{engine}-{kbridge.unique}"
        self.bus, self.hook, self.db, self.gone = f"c-{u}", f"hook-{u}", f"db-{u}", f"gone-{u}"
        self.table = f"chaos_{engine}_{kbridge.unique}"
        self.group = f"chaos-router-{u}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        kbridge.env["KBRIDGE_ROUTER_UNWRITABLE_TIMEOUT"] = str(unwritable_timeout)
        kbridge.env["KBRIDGE_LOG_LEVEL"] = "WARNING"
        self.engine_db = sa.create_engine(mysql_url, pool_pre_ping=True)

    def config(self) -> str:
        return f"""
buses: [{{name: {self.bus}, partitions: 3}}]
targets:
  - {{name: {self.hook}, kind: webhook, url: "http://127.0.0.1:{self.receiver.port}/hook",
      allow_private_network: true, body: raw, concurrency: 16}}
  - {{name: {self.db}, kind: mysql, url: "{self.mysql_url}", table: {self.table},
      allow_private_network: true, batch_size: 200}}
  - {{name: {self.gone}, kind: kafka, topic: "x-{self.gone}", partitions: 1}}
rules:
  - name: sinks-{self.bus}
    bus: {self.bus}
    pattern: {{source: [chaos.load], detail: {{to: [sinks]}}}}
    targets: [{{target: {self.hook}}}, {{target: {self.db}}}]
  - name: gone-{self.bus}
    bus: {self.bus}
    pattern: {{source: [chaos.load], detail: {{to: [gone]}}}}
    targets: [{{target: {self.gone}}}]
"""

    # processes -------------------------------------------------------------------

    def start(self, role: str) -> None:
        args = {
            "gateway": ["gateway", "--port", str(self.port), "--workers", "1"],
            "router": ["router", "--engine", self.engine, "--group-id", self.group],
            "sink": ["sink", self.hook, self.db],
        }[role]
        self.procs[role] = self.kbridge.start(*args, name=f"{role}-{self.engine}")

    def signal(self, role: str, sig: signal.Signals, *, restart: bool = True) -> None:
        """Send ``sig`` to ``role``'s process, wait for its exit, start a fresh one."""
        proc = self.procs[role]
        proc.send_signal(sig)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within 60 s of %s; killing it", role, sig.name)
            proc.kill()
            proc.wait()
        if restart:
            self.start(role)

    def up(self, timeout: float = 180.0) -> None:
        """Apply the configuration, start every process, wait until one event went through."""
        self.kbridge.apply(self.config())
        for role in ("gateway", "router", "sink"):
            self.start(role)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the gateway did not get ready\n{self.kbridge.logs()}")
        warm = f"warm-{uuid.uuid4().hex[:6]}"
        sent = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() - sent > 5:  # again, in case the first was refused
                with contextlib.suppress(httpx.HTTPError):
                    put(self.url, self.bus, [entry(self.bus, warm, 0, "sinks")], timeout=10)
                sent = time.monotonic()
            time.sleep(0.5)
            if self.receiver.ids(warm) and self.rows(warm):
                return
        raise RuntimeError(f"the warm-up event did not go through\n{self.kbridge.logs()}")

    def down(self, *, fast: bool = False) -> None:
        """Stop the processes (``fast``: SIGKILL, for a pipeline thrown away afterwards)."""
        if fast:
            for proc in self.kbridge.processes:
                if proc.poll() is None:
                    proc.kill()
        self.kbridge.stop_all()
        self.engine_db.dispose()

    def rows(self, prefix: str) -> set[str]:
        """Event ids in MariaDB starting with ``prefix`` (empty while it is down)."""
        try:
            with self.engine_db.connect() as conn:
                found = conn.execute(
                    sa.text(f"SELECT id FROM `{self.table}` WHERE id LIKE :p"),
                    {"p": prefix + "%"},
                )
                return {str(r[0]) for r in found}
        except sa.exc.SQLAlchemyError:
            return set()

    def dead_letter_topics(self) -> list[str]:
        return [f"kbridge.dlq.{self.hook}", f"kbridge.dlq.{self.db}", f"kbridge.bus.{self.bus}.dlq"]

    def delete_gone_topic(self) -> None:
        kafka = KafkaClientConfig(bootstrap_servers=self.kbridge.bootstrap)
        delete_topics(kafka, [f"kbridge.target.{self.gone}"])


# --------------------------------------------------------------------------- load


def entry(bus: str, prefix: str, n: int, to: str) -> dict[str, Any]:
    return {
        "EventBusName": bus,
        "Source": "chaos.load",
        "DetailType": "tick",
        "Detail": orjson.dumps({"n": n, "to": to}).decode(),
        "EventId": f"{prefix}-{n}",
    }


def put(url: str, bus: str, entries: list[dict[str, Any]], timeout: float = 30.0) -> httpx.Response:
    return httpx.post(
        f"{url}/",
        content=orjson.dumps({"Entries": entries}),
        headers={
            "X-Amz-Target": "AWSEvents.PutEvents",
            "Content-Type": "application/x-amz-json-1.1",
        },
        timeout=timeout,
    )


@dataclass
class Answer:
    """One PutEvents request: when it was sent, how long the answer took, what came back."""

    sent: float
    seconds: float
    status: int  # HTTP status; 0 when no answer (connection error, client timeout)


class Load:
    """PutEvents at a steady rate (``batch`` entries a request, 16 requests in flight)."""

    def __init__(self, url: str, bus: str, prefix: str, rate: float, gone_every: int = 0) -> None:
        self.url, self.bus, self.prefix, self.rate = url, bus, prefix, rate
        self.gone_every = gone_every
        self.gone_on = threading.Event()  # set once the fault made the target unwritable
        self.batch = 10
        self.acked: dict[str, float] = {}  # id → when acknowledged
        self.kind: dict[str, str] = {}  # id → "sinks" | "gone"
        self.failed: Counter[str] = Counter()  # entry error codes / request failures
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.client = httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=32))

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.client.close()

    def _send(self, first: int) -> None:
        entries = []
        for n in range(first, first + self.batch):
            gone = self.gone_on.is_set() and self.gone_every and n % self.gone_every == 0
            to = "gone" if gone else "sinks"
            entries.append(entry(self.bus, self.prefix, n, to))
        sent = time.monotonic()
        status = 0
        try:
            response = self.client.post(
                f"{self.url}/",
                content=orjson.dumps({"Entries": entries}),
                headers={
                    "X-Amz-Target": "AWSEvents.PutEvents",
                    "Content-Type": "application/x-amz-json-1.1",
                },
            )
            status = response.status_code
            now = time.monotonic()
            if status == 200:
                answered = response.json()["Entries"]
                with self.lock:
                    for sent_entry, result in zip(entries, answered, strict=True):
                        if result.get("EventId"):
                            self.acked[result["EventId"]] = now
                            self.kind[result["EventId"]] = orjson.loads(sent_entry["Detail"])["to"]
                        else:
                            self.failed[str(result.get("ErrorCode"))] += 1
            else:
                code = f"http-{status}"
                with contextlib.suppress(ValueError, KeyError):
                    code = response.json()["__type"]
                with self.lock:
                    self.failed[code] += len(entries)
        except httpx.HTTPError as exc:
            with self.lock:
                self.failed[type(exc).__name__] += len(entries)
        with self.lock:
            self.answers.append(Answer(sent, time.monotonic() - sent, status))

    def _run(self) -> None:
        interval = self.batch / self.rate
        start = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            i = 0
            while not self.stopping.is_set():
                delay = start + i * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self._send, i * self.batch)
                i += 1

    def snapshot(self) -> tuple[dict[str, float], dict[str, str]]:
        with self.lock:
            return dict(self.acked), dict(self.kind)


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scale:
    """Durations (s) and rate (events/s) of a run; :meth:`scaled` shrinks them for tests."""

    rate: float = 200.0
    before: float = 15.0  # load before the fault
    fault: float = 60.0  # how long a lasting fault lasts (MariaDB down, brokers down, 429s)
    after: float = 30.0  # load after the fault's end
    drain: float = 300.0  # at most this long for the backlog after the load stopped
    unwritable_timeout: float = 60.0  # the router's --unwritable-timeout

    def scaled(self, factor: float) -> Scale:
        return Scale(
            rate=self.rate,
            before=max(3.0, self.before * factor),
            fault=max(5.0, self.fault * factor),
            after=max(5.0, self.after * factor),
            drain=max(60.0, self.drain * factor),
            unwritable_timeout=max(5.0, self.unwritable_timeout * factor),
        )


@dataclass
class Result:
    """What a scenario prints (one row of the table)."""

    scenario: str
    engine: str
    acked: int = 0
    acked_unwritable: int = 0  # acked events for the unwritable target (dead letters due)
    failed: int = 0  # entries answered with an error (refused, OutcomeUnknown, no answer)
    webhook: int = 0  # unique ids at the receiver
    rows: int = 0  # rows in MariaDB
    dead_letters: int = 0
    lost: int = 0
    duplicates: int = 0  # webhook calls beyond the first per id
    recovery: float | None = None  # fault end → everything acked before it delivered
    resumed: float | None = None  # fault end → the gateway's first ack (when it had refused)
    slowest_answer: float = 0.0  # the slowest PutEvents answer during the fault (s)
    lost_ids: list[str] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    notes: str = ""

    def row(self) -> str:
        recovery = "-" if self.recovery is None else f"{self.recovery:.1f}"
        resumed = "-" if self.resumed is None else f"{self.resumed:.1f}"
        if self.resumed == float("inf"):
            resumed = "never"
        return (
            f"| {self.scenario} | {self.engine} | {self.acked:,} | {self.failed:,} | "
            f"{self.webhook:,} | {self.rows:,} | {self.dead_letters:,} | {self.lost:,} | "
            f"{self.duplicates:,} | {recovery} | {resumed} | {self.slowest_answer:.1f} | "
            f"{self.notes} |"
        )


TABLE_HEAD = (
    "| scenario | engine | acked | failed (not acked) | webhook (unique ids) | MariaDB rows "
    "| dead letters | lost | duplicates | recovery (s) | acks resumed (s) "
    "| slowest answer in fault (s) | notes |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def table(results: list[Result]) -> str:
    return "\n".join([TABLE_HEAD, *(r.row() for r in results)])


class Run:
    """The state a scenario function acts on: services, pipeline, scale, fault marks."""

    def __init__(
        self,
        cluster: Cluster,
        mariadb: PrivateMariaDB,
        receiver: Receiver,
        pipeline: Pipeline,
        scale: Scale,
    ) -> None:
        self.cluster, self.mariadb, self.receiver = cluster, mariadb, receiver
        self.pipeline, self.scale = pipeline, scale
        self.fault_start = 0.0
        self.fault_end = 0.0
        self.notes: list[str] = []
        self.load: Load | None = None

    def begin(self) -> None:
        self.fault_start = time.monotonic()

    def end(self) -> None:
        self.fault_end = time.monotonic()


def _sink_coordinator_down(run: Run, take_down: Callable[[int], None]) -> None:
    """The webhook sink group's coordinator taken down for ``fault`` s, then restarted."""
    node = run.cluster.coordinator(f"kbridge-sink-{run.pipeline.hook}")
    run.notes.append(f"node {node} (sink coordinator)")
    run.begin()
    take_down(node)
    time.sleep(run.scale.fault)
    run.cluster.start()
    run.end()


def broker_stop(run: Run) -> None:
    """Controlled shutdown of the webhook sink group's coordinator for ``fault`` s."""
    _sink_coordinator_down(run, run.cluster.stop_node)


def broker_kill(run: Run) -> None:
    """SIGKILL of the webhook sink group's coordinator, restarted after ``fault`` s."""
    _sink_coordinator_down(run, run.cluster.kill_node)


def router_kill(run: Run) -> None:
    """SIGKILL of the router mid-load; a fresh one starts at once (as a supervisor would)."""
    run.begin()
    run.pipeline.signal("router", signal.SIGKILL)
    run.end()


def sink_kill(run: Run) -> None:
    """SIGKILL of the sink process (both targets) mid-load; a fresh one starts at once."""
    run.begin()
    run.pipeline.signal("sink", signal.SIGKILL)
    run.end()


def rolling_restart(run: Run) -> None:
    """SIGTERM and restart the router, then the sinks, 5 s apart (a rolling deployment)."""
    run.begin()
    run.pipeline.signal("router", signal.SIGTERM)
    time.sleep(5)
    run.pipeline.signal("sink", signal.SIGTERM)
    run.end()


def mariadb_down(run: Run) -> None:
    """The sink's database stopped for ``fault`` s (a private server, never the shared one)."""
    run.begin()
    run.mariadb.stop()
    time.sleep(run.scale.fault)
    run.mariadb.start()
    run.end()


def webhook_flaky(run: Run) -> None:
    """The webhook answers 50% of calls 429 + Retry-After: 1 and hangs 5% for ``fault`` s."""
    run.begin()
    with run.receiver.lock:  # count this scenario's refusals only
        run.receiver.refused = run.receiver.hung = 0
    run.receiver.fail_ratio, run.receiver.hang_ratio = 0.5, 0.05
    time.sleep(run.scale.fault)
    run.receiver.fail_ratio, run.receiver.hang_ratio = 0.0, 0.0
    run.end()
    run.notes.append(f"{run.receiver.refused:,} 429s, {run.receiver.hung} hangs")


def two_brokers_down(run: Run) -> None:
    """Two of three nodes killed (acks=all impossible, quorum lost) for ``fault`` s.

    The gateway must keep answering fast (OutcomeUnknown within its ack timeout, then 503
    while Kafka stalls); the slowest answer during the fault is reported.
    """
    run.begin()
    for node in (2, 3):  # SIGKILL: a controlled shutdown cannot finish without a quorum
        run.cluster.kill_node(node)
    time.sleep(run.scale.fault)
    run.cluster.start()
    run.end()


def unwritable_target(run: Run) -> None:
    """The ``gone`` target's egress topic deleted: its events (1 in 50, for ``fault`` s) must
    reach the bus dead-letter topic with stage ``produce`` after the unwritable timeout
    while the other targets keep flowing. (Events sent before the deletion went down with
    the topic, so the load sends none to it before.)"""
    run.begin()
    run.pipeline.delete_gone_topic()
    assert run.load is not None
    run.load.gone_on.set()
    time.sleep(run.scale.fault)
    run.load.gone_on.clear()  # recovery: until the held events are dead-lettered as well
    run.end()


SCENARIOS: dict[str, Callable[[Run], None]] = {
    "broker-stop": broker_stop,
    "broker-kill": broker_kill,
    "router-kill": router_kill,
    "sink-kill": sink_kill,
    "rolling-restart": rolling_restart,
    "mariadb-down": mariadb_down,
    "webhook-flaky": webhook_flaky,
    "two-brokers-down": two_brokers_down,
    "unwritable-target": unwritable_target,
}


def delivered(
    run: Run, prefix: str, kind: dict[str, str], dead: dict[str, tuple[str, str, str]]
) -> tuple[Counter[str], set[str], set[str]]:
    """(webhook counts, MariaDB rows, ids fully settled) for ``prefix``."""
    hooks = run.receiver.ids(prefix)
    rows = run.pipeline.rows(prefix)
    settled = set()
    for event_id, to in kind.items():
        if to == "gone":
            if event_id in dead:
                settled.add(event_id)
        elif (event_id in hooks or event_id in dead) and (event_id in rows or event_id in dead):
            settled.add(event_id)
    return hooks, rows, settled


def run_scenario(
    name: str,
    cluster: Cluster,
    mariadb: PrivateMariaDB,
    receiver: Receiver,
    pipeline: Pipeline,
    scale: Scale,
) -> Result:
    """Load before, during and after the fault of ``name``; wait for the backlog; count."""
    run = Run(cluster, mariadb, receiver, pipeline, scale)
    prefix = f"{name}-{pipeline.engine}-{uuid.uuid4().hex[:6]}"
    gone_every = 50 if name == "unwritable-target" else 0
    dead_letters = DeadLetters(cluster.bootstrap, pipeline.dead_letter_topics())
    load = Load(pipeline.url, pipeline.bus, prefix, scale.rate, gone_every)
    run.load = load
    log.info("%s (%s): load %s ev/s, prefix %s", name, pipeline.engine, scale.rate, prefix)
    load.start()
    recovery: float | None = None
    try:
        time.sleep(scale.before)
        SCENARIOS[name](run)
        # after the fault: keep loading, and watch when the fault's backlog is drained
        stop_load = time.monotonic() + scale.after
        deadline = stop_load + scale.drain
        while time.monotonic() < deadline:
            acked, kind = load.snapshot()
            # a gateway still refusing after the fault keeps being offered load until it
            # acknowledges again (to measure when), within the drain time
            may_stop = any(t > run.fault_end for t in acked.values()) or not any(
                a.status != 200 for a in list(load.answers) if a.sent >= run.fault_start
            )
            if load.thread.is_alive() and time.monotonic() >= stop_load and may_stop:
                load.stop()
            dead = dead_letters.ids(prefix)
            _, _, settled = delivered(run, prefix, kind, dead)
            before_end = {i for i, t in acked.items() if t <= run.fault_end}
            if recovery is None and before_end <= settled:
                recovery = time.monotonic() - run.fault_end
            if not load.thread.is_alive() and set(acked) <= settled:
                time.sleep(3)  # late duplicates still count
                break
            time.sleep(0.25)  # finer than 1 s: the drain ends (and recovery is timed) sooner
    finally:
        if load.thread.is_alive():
            load.stop()
    acked, kind = load.snapshot()
    dead = dead_letters.ids(prefix)
    dead_letters.close()
    hooks, rows, settled = delivered(run, prefix, kind, dead)
    lost = sorted(set(acked) - settled)
    in_fault = [
        a.seconds
        for a in load.answers
        if run.fault_start <= a.sent <= max(run.fault_end, run.fault_start + 1)
    ]
    # how long after the fault the gateway acknowledged again (only if it refused meanwhile)
    refused = any(a.status != 200 for a in load.answers if a.sent >= run.fault_start)
    after_fault = [t for t in acked.values() if t > run.fault_end]
    resumed = min(after_fault) - run.fault_end if refused and after_fault else None
    if refused and not after_fault:
        resumed = float("inf")  # never, while the load ran
    stages = Counter(f"{stage or '?'}/{code or '?'}" for _, stage, code in dead.values())
    notes = list(run.notes)
    if stages:
        notes.append("dead letters " + ", ".join(f"{k} {v}" for k, v in sorted(stages.items())))
    if load.failed:
        notes.append("not acked: " + ", ".join(f"{k} {v}" for k, v in sorted(load.failed.items())))
    result = Result(
        scenario=name,
        engine=pipeline.engine,
        acked=len(acked),
        acked_unwritable=sum(1 for i in acked if kind.get(i) == "gone"),
        failed=sum(load.failed.values()),
        webhook=len(hooks),
        rows=len(rows),
        dead_letters=len(dead),
        lost=len(lost),
        duplicates=sum(n - 1 for n in hooks.values()),
        recovery=recovery,
        resumed=resumed,
        slowest_answer=max(in_fault, default=0.0),
        lost_ids=lost[:20],
        failures=load.failed,
        notes="; ".join(notes),
    )
    log.info("%s", result.row())
    return result


@contextlib.contextmanager
def services(
    workdir: Path, *, fast_teardown: bool = False
) -> Iterator[tuple[Cluster, PrivateMariaDB, Receiver]]:
    """The 3-node cluster, a private MariaDB and the receiver; stopped on the way out
    (``fast_teardown``: the cluster is killed, its data being thrown away anyway)."""
    cluster = Cluster(workdir / "kafka")
    mariadb = PrivateMariaDB(workdir / "mariadb")
    receiver = Receiver()
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        both = [pool.submit(cluster.start), pool.submit(mariadb.start)]
    try:
        for future in both:
            future.result()
        log.info("cluster and MariaDB up in %.0f s", time.monotonic() - started)
        yield cluster, mariadb, receiver
    finally:
        receiver.stop()
        mariadb.stop()
        cluster.stop(fast=fast_teardown)


@contextlib.contextmanager
def pipeline(
    workdir: Path,
    cluster: Cluster,
    mariadb: PrivateMariaDB,
    receiver: Receiver,
    engine: str,
    scale: Scale,
    *,
    fast_teardown: bool = False,
) -> Iterator[Pipeline]:
    """A pipeline of ``engine`` up (warm) on the cluster; its processes stopped afterwards."""
    unique = uuid.uuid4().hex[:8]
    tmp = workdir / f"pipeline-{engine}-{unique}"
    tmp.mkdir(parents=True)
    kbridge = Kbridge(cluster.bootstrap, unique, tmp)
    pipe = Pipeline(
        kbridge, engine, receiver, mariadb.url, unwritable_timeout=scale.unwritable_timeout
    )
    try:
        started = time.monotonic()
        pipe.up()
        log.info("%s pipeline up in %.0f s", engine, time.monotonic() - started)
        yield pipe
    finally:
        pipe.down(fast=fast_teardown)
