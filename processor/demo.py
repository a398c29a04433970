"""The demo (`make demo`): the three scenarios of the design, end to end, on one machine.

    python -m processor.demo run        # what `make demo` (scripts/demo.sh) runs
    python -m processor.demo receiver   # only the local IM webhook + SMTP receivers

``run`` expects Kafka at ``KBRIDGE_KAFKA__BOOTSTRAP_SERVERS`` (scripts/demo.sh starts
deploy/kafka first). It applies examples/kbridge.yaml (with the email digest window shortened
so nobody waits a minute), starts the gateway, the router, one sink worker per target and the
Kafka source as subprocesses, plus in-process receivers standing in for DingTalk, WeCom,
Feishu, Slack (HTTP on 127.0.0.1:18080) and an SMTP server (127.0.0.1:2525), then drives:

1. data processing: questionnaire responses posted to the survey webhook, aggregated by the
   ``survey-aggregate`` function target (its result comes back on the saas bus and is printed)
   and stored in the ``survey_responses`` table;
2. message push: cloud monitoring alarms sent with PutEvents, delivered as markdown/text to the
   four IM receivers and as an email digest (printed as a person would see them);
3. event dump: key-management CloudEvents on the ``kms.audit`` topic, read by the Kafka source
   and upserted into ``kms_events`` by event id (duplicates are sent and do not duplicate rows).

SQL targets use an SQLite file (the embedded default) unless SURVEY_DB_URL / KMS_DB_URL are
set. At the end a summary table is printed; everything started is stopped on exit or Ctrl-C.
The exit status is 0 only when every scenario was delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import email
import email.policy
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "kbridge.yaml"
HTTP_PORT = 18080  # the IM URLs' defaults in examples/kbridge.yaml
SMTP_PORT = 2525  # ops-email's port in examples/kbridge.yaml
IM_CHANNELS = ("dingtalk", "wecom", "feishu", "slack")

_print_lock = threading.Lock()


def say(text: str = "") -> None:
    with _print_lock:
        print(text, flush=True)


def step(text: str) -> None:
    say(f"\n==> {text}")


# --------------------------------------------------------------------------------------------
# Receivers: what DingTalk, WeCom, Feishu, Slack and a mail server would show a person
# --------------------------------------------------------------------------------------------


@dataclass
class Received:
    channel: str
    text: str
    at: float
    note: str = ""


@dataclass
class Inbox:
    """Everything the receivers got, thread-safe; ``echo`` prints each message on arrival."""

    echo: bool = True
    items: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Received) -> None:
        with self.lock:
            self.items.append(item)
        if self.echo:
            body = "\n".join("    │ " + line for line in item.text.splitlines() or [""])
            note = f" ({item.note})" if item.note else ""
            say(f"  ┌─ {item.channel}{note}\n{body}\n  └─")

    def texts(self, channel: str) -> list[Received]:
        with self.lock:
            return [i for i in self.items if i.channel == channel]


def _sign_ok(expected: str, given: str | None) -> str:
    if not given:
        return "unsigned"
    return "signature ok" if hmac.compare_digest(expected, given) else "SIGNATURE MISMATCH"


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """DingTalk robot signing: base64(HMAC-SHA256(secret, "<ms timestamp>\\n<secret>"))."""
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def feishu_sign(secret: str, timestamp: str) -> str:
    """Feishu bot signing: base64(HMAC-SHA256(key="<s timestamp>\\n<secret>", msg=b""))."""
    mac = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def im_text(channel: str, body: dict[str, Any]) -> str:
    """The text a person would see for one platform's webhook body."""
    if channel in ("dingtalk", "wecom"):
        kind = body.get("msgtype", "text")
        part = body.get(kind) or {}
        if kind == "markdown":
            return str(part.get("text") or part.get("content") or "")
        return str(part.get("content") or part.get("text") or json.dumps(part))
    if channel == "feishu":
        content = body.get("content") or {}
        if "text" in content:
            return str(content["text"])
        return json.dumps(content, ensure_ascii=False)
    if channel == "slack":
        return str(body.get("text") or json.dumps(body.get("blocks"), ensure_ascii=False))
    return json.dumps(body, ensure_ascii=False)


class _ImHandler(BaseHTTPRequestHandler):
    inbox: Inbox
    dingtalk_secret = os.environ.get("DINGTALK_SECRET", "SECdev")
    feishu_secret = os.environ.get("FEISHU_SECRET", "dev-feishu-secret")

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, status: int, payload: Any) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(payload, bytes) else
                         "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        channel = url.path.strip("/").split("/", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._answer(400, {"errcode": 400, "errmsg": "invalid json"})
            return
        note = ""
        if channel == "dingtalk":
            query = urllib.parse.parse_qs(url.query)
            ts = (query.get("timestamp") or [""])[0]
            sign = next(iter(query.get("sign", [])), None)
            note = _sign_ok(dingtalk_sign(self.dingtalk_secret, ts), sign)
        elif channel == "feishu":
            ts = str(body.get("timestamp", ""))
            note = _sign_ok(feishu_sign(self.feishu_secret, ts), body.get("sign"))
        if channel not in IM_CHANNELS:
            self._answer(404, {"errcode": 404, "errmsg": f"no receiver for {url.path}"})
            return
        self.inbox.add(Received(channel, im_text(channel, body), time.monotonic(), note))
        if channel == "slack":
            self._answer(200, b"ok")
        elif channel == "feishu":
            self._answer(200, {"code": 0, "msg": "success", "data": {}})
        else:
            self._answer(200, {"errcode": 0, "errmsg": "ok"})


class SmtpReceiver:
    """A minimal SMTP server (no TLS, no auth) that hands each message to the inbox."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(line: str) -> None:
            writer.write(line.encode() + b"\r\n")

        send("220 kbridge-demo ESMTP")
        data: list[bytes] | None = None
        try:
            while line := await reader.readline():
                if data is not None:
                    if line.rstrip(b"\r\n") == b".":
                        self._message(b"".join(data))
                        data = None
                        send("250 2.0.0 queued")
                    else:
                        data.append(line[1:] if line.startswith(b"..") else line)
                    continue
                verb = line.decode("utf-8", "replace").strip()[:4].upper()
                if verb == "EHLO":
                    send("250-kbridge-demo")
                    send("250-8BITMIME")
                    send("250 SMTPUTF8")
                elif verb == "DATA":
                    data = []
                    send("354 end data with <CR><LF>.<CR><LF>")
                elif verb == "QUIT":
                    send("221 bye")
                    await writer.drain()
                    break
                elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                    send("250 OK")
                else:
                    send("502 command not implemented")
                await writer.drain()
        finally:
            writer.close()

    def _message(self, raw: bytes) -> None:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain", "html"))
        text = part.get_content() if part is not None else ""
        header = f"From: {msg['From']}\nTo: {msg['To']}\nSubject: {msg['Subject']}\n\n"
        self.inbox.add(Received("email", header + text.strip(), time.monotonic()))


@contextlib.contextmanager
def receivers(
    inbox: Inbox, host: str = "127.0.0.1", http_port: int = HTTP_PORT, smtp_port: int = SMTP_PORT
) -> Iterator[None]:
    """Serve the IM webhook receiver and the SMTP receiver in background threads."""
    handler = type("ImHandler", (_ImHandler,), {"inbox": inbox})
    try:
        http = ThreadingHTTPServer((host, http_port), handler)
    except OSError as exc:
        raise SystemExit(f"demo: port {http_port} (IM receiver) is taken: {exc}") from None
    threading.Thread(target=http.serve_forever, name="im-receiver", daemon=True).start()

    loop = asyncio.new_event_loop()
    smtp = SmtpReceiver(inbox)
    try:
        server = loop.run_until_complete(asyncio.start_server(smtp.handle, host, smtp_port))
    except OSError as exc:
        http.server_close()
        raise SystemExit(f"demo: port {smtp_port} (SMTP receiver) is taken: {exc}") from None
    threading.Thread(target=loop.run_forever, name="smtp-receiver", daemon=True).start()
    try:
        yield
    finally:
        http.shutdown()
        http.server_close()

        async def close() -> None:
            server.close()
            await server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Processes:
    """kbridge subprocesses with logs in ``logdir``; ``stop`` ends exactly these, by pid."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env = env
        self.logdir = logdir
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "processor", *args], env=self.env, cwd=ROOT,
            capture_output=True, text=True, timeout=timeout, check=False,
        )

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "processor", *args], env=self.env, cwd=ROOT,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches only the demo, which stops them in order
        )
        log.close()
        self.running.append((name, proc))
        return proc

    def dead(self) -> list[str]:
        return [name for name, proc in self.running if proc.poll() is not None]

    def stop(self) -> None:
        for _, proc in self.running:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name, proc in self.running:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"  {name} (pid {proc.pid}) did not stop in time: killed")
                proc.kill()
                proc.wait()
        self.running.clear()


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


def http_json(url: str, body: Any | None = None, timeout: float = 10) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def survey_responses(run: str) -> list[dict[str, Any]]:
    """Five completed responses and one still in progress (the rule skips it)."""
    people = [("alice", 9, "A", 95), ("bob", 7, "B", 120), ("carol", 10, "A", 80),
              ("dave", 6, "C", 150), ("erin", 8, "A", 101), ("frank", 3, "B", 20)]
    out = []
    for i, (who, score, choice, duration) in enumerate(people):
        out.append({
            "id": f"{run}-resp-{i}",
            "action": "questionnaire.response.submitted",
            "status": "completed" if who != "frank" else "in_progress",
            "survey_id": f"nps-{run}",
            "respondent": {"id": who},
            "respondent_id": who,
            "submitted_at": now_iso(),
            "duration": duration,
            "answers": {"How likely are you to recommend us (0-10)?": score,
                        "Which plan do you use?": choice},
        })
    return out


def alarm_entries(run: str) -> list[dict[str, Any]]:
    """Three critical production alarms (delivered) and two that the rule filters out."""
    alarms = [
        ("critical", "production", f"cpu-high-{run}", "i-0a1b2c web-01", 97.5, 90),
        ("critical", "prod", f"disk-full-{run}", "disk /data on db-02", 99.1, 95),
        ("critical", "production", f"error-rate-{run}", "api-gateway", 12.4, 5),
        ("warning", "production", f"latency-{run}", "api-gateway", 850, 800),
        ("critical", "staging", f"cpu-high-staging-{run}", "i-9z8y staging-01", 99, 90),
    ]
    return [{
        "Source": "cloud.monitor.cms",
        "DetailType": "CloudMonitor Alarm",
        "Resources": [resource],
        "Detail": json.dumps({"severity": sev, "environment": env, "alarmName": name,
                              "resource": resource, "currentValue": value,
                              "threshold": threshold}),
    } for sev, env, name, resource, value, threshold in alarms]


def kms_events(run: str) -> list[Any]:
    from processor.events.model import CloudEvent

    kinds = ["kms.key.created", "kms.key.rotated", "kms.data.encrypt", "kms.data.decrypt"]
    out = []
    for i in range(20):
        out.append(CloudEvent(
            id=f"{run}-kms-{i}", source="kms.cn-hangzhou", type=kinds[i % 4],
            subject=f"key-{i % 5}", time=now_iso(), datacontenttype="application/json",
            data={"keyId": f"key-{i % 5}", "principal": f"acs:ram::1234:user/app-{i % 3}",
                  "requestId": str(uuid.uuid4())},
        ))
    return out


# --------------------------------------------------------------------------------------------
# Observation
# --------------------------------------------------------------------------------------------


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
    """Reads a bus topic from its current end: the function target's published results."""

    def __init__(self, bootstrap: str, topic: str, source: str) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self.source = source
        self.results: list[dict[str, Any]] = []
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "kbridge-demo",
                                   "enable.auto.commit": False})
        meta = self._consumer.list_topics(topic, timeout=10).topics[topic]
        parts = []
        for p in meta.partitions:
            _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            parts.append(TopicPartition(topic, p, high))
        self._consumer.assign(parts)

    def poll(self) -> None:
        from processor.events.kafka import decode_json_form

        for msg in self._consumer.consume(500, timeout=0.2):
            if msg.error() is not None:
                continue
            with contextlib.suppress(Exception):
                headers: Any = msg.headers()  # a list of (name, value) from a consumer
                form = decode_json_form(msg.value(), headers)
                if form.get("source") == self.source:
                    self.results.append(form)

    def close(self) -> None:
        self._consumer.close()


def topic_ends(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Sum of the high watermarks of each existing topic (0 for missing ones)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "kbridge-demo-offsets"})
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
    """Rows of ``table`` whose ``column`` is one of ``values`` (0 while the table is missing)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tbl = sa.Table(table, sa.MetaData(), autoload_with=conn)
            query = sa.select(sa.func.count()).select_from(tbl).where(tbl.c[column].in_(values))
            return int(conn.execute(query).scalar_one())
    except (sa.exc.NoSuchTableError, sa.exc.OperationalError, sqlite3.Error, KeyError):
        return 0
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class Expect:
    scenario: str
    target: str
    routed: int  # egress records the router should produce
    delivered: int  # what should arrive
    count: Callable[[], int]
    sent_at: float = 0.0
    events_in: int = 0  # what the demo sent and had acknowledged (HTTP 2xx / Kafka ack)
    done_at: float | None = None


def demo_config(workdir: Path, source: Path = EXAMPLE) -> Path:
    """examples/kbridge.yaml with the email digest window cut to 5 s (60 s in the example)."""
    import yaml

    config = yaml.safe_load(source.read_text())
    for target in config["targets"]:
        if target.get("digest"):
            target["digest"]["window_seconds"] = 5
    path = workdir / "kbridge.yaml"
    path.write_text("# generated by processor/demo.py from examples/kbridge.yaml\n"
                    + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


def run_demo(args: argparse.Namespace) -> int:
    bootstrap = os.environ.get("KBRIDGE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError:
        say(f"demo: Kafka is not reachable at {bootstrap}: run `make demo` (it starts "
            "deploy/kafka) or `deploy/kafka/kafka.sh start`")
        return 2

    run = datetime.now(UTC).strftime("%H%M%S") + "-" + uuid.uuid4().hex[:4]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="kbridge-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "logs").mkdir(exist_ok=True)
    db_url = f"sqlite:///{workdir / 'kbridge-demo.db'}"
    gateway_port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "KBRIDGE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "KMS_KAFKA_BOOTSTRAP": os.environ.get("KMS_KAFKA_BOOTSTRAP", bootstrap),
        "SURVEY_DB_URL": os.environ.get("SURVEY_DB_URL", db_url),
        "KMS_DB_URL": os.environ.get("KMS_DB_URL", db_url),
        "PYTHONUNBUFFERED": "1",
    }
    token = env.get("SURVEY_WEBHOOK_TOKEN", "dev-survey-token-change-me")
    procs = Processes(env, workdir / "logs")
    inbox = Inbox(echo=not args.quiet)
    say(f"kbridge demo, run {run}: Kafka {bootstrap}, work directory {workdir}")

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    watcher: BusWatcher | None = None
    try:
        with receivers(inbox):
            step("apply examples/kbridge.yaml (validate, create topics, publish to kbridge.rules)")
            config = demo_config(workdir, Path(args.config))
            result = procs.run("apply", "-f", str(config))
            say(result.stdout.rstrip() or result.stderr.rstrip())
            if result.returncode != 0:
                say(result.stderr)
                return 1

            from processor.kafka.admin import TopicSpec, ensure_topics
            from processor.kafka.config import KafkaClientConfig
            from processor.kafka.topics import bus_dlq_topic, bus_topic, target_dlq_topic

            kafka = KafkaClientConfig(bootstrap_servers=bootstrap)
            ensure_topics(kafka, [TopicSpec("kms.audit", 3)])
            targets = ["survey-aggregate", "survey-db", *(f"ops-{c}" for c in IM_CHANNELS),
                       "ops-email", "kms-events-db"]
            dlqs = [target_dlq_topic(t) for t in targets] + [
                bus_dlq_topic(b) for b in ("saas", "monitoring", "kms")]
            dlq_start = topic_ends(bootstrap, dlqs)
            watcher = BusWatcher(bootstrap, bus_topic("saas"), "kbridge/function/survey-aggregate")

            step("start gateway, router, 8 sink workers and the kms-audit-feed source")
            procs.start("gateway", "gateway", "--port", str(gateway_port))
            procs.start("router", "router", "--engine", args.engine,
                        "--metrics-port", str(metrics_port))
            for target in targets:
                procs.start(f"sink-{target}", "sink", target)
            procs.start("source-kms-audit-feed", "source", "kms-audit-feed")
            base = f"http://127.0.0.1:{gateway_port}"
            deadline = time.monotonic() + 90
            while True:
                with contextlib.suppress(OSError):
                    if http_json(f"{base}/readyz", timeout=2)[0] == 200:
                        break
                if procs.dead() or time.monotonic() > deadline:
                    say(f"demo: not ready (exited: {procs.dead()}); logs in {workdir / 'logs'}")
                    return 1
                time.sleep(0.5)
            say(f"  gateway ready on {base}; {len(procs.running)} processes running "
                f"(logs in {workdir / 'logs'})")

            # ---- scenario 1
            step("1. data processing: questionnaire responses → webhook → aggregate + table")
            responses = survey_responses(run)
            survey_sent = time.monotonic()
            survey_in = 0
            for body in responses:
                status, answer = http_json(f"{base}/v1/webhooks/survey/{token}", body)
                survey_in += status < 300
                say(f"  POST /v1/webhooks/survey/<token> {body['respondent']['id']:<6} "
                    f"status={body['status']:<11} → {status}")
                if status >= 300:
                    say(f"    {answer}")
            completed = [r["id"] for r in responses if r["status"] == "completed"]

            # ---- scenario 2
            step("2. message push: alarms → PutEvents → DingTalk, WeCom, Feishu, Slack, email")
            entries = alarm_entries(run)
            alarms_sent = time.monotonic()
            status, answer = http_json(f"{base}/v1/buses/monitoring/events", {"Entries": entries})
            failed = answer.get("FailedEntryCount", 0) if isinstance(answer, dict) else answer
            alarms_in = len(entries) - int(failed or 0) if status == 200 else 0
            say(f"  PutEvents {len(entries)} entries (3 critical+production) → {status}, "
                f"failed entries: {failed}")
            critical = [json.loads(e["Detail"])["alarmName"] for e in entries[:3]]

            # ---- scenario 3
            step("3. event dump: KMS events on topic kms.audit → source → router → SQL upsert")
            from confluent_kafka import Producer

            from processor.events.kafka import encode

            events = kms_events(run)
            producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
            kms_sent = time.monotonic()
            acked: list[bool] = []
            for event in [*events, *events[:5]]:  # five duplicates: the table keeps one row each
                record = encode(event)
                headers: list[Any] = list(record.headers)
                producer.produce("kms.audit", record.value, record.key, headers=headers,
                                 on_delivery=lambda err, _msg: acked.append(err is None))
            producer.flush(30)
            kms_in = sum(acked)
            say(f"  produced {len(events) + 5} records to kms.audit "
                f"({len(events)} distinct event ids, 5 redelivered)")
            kms_ids = [e.id for e in events]

            def im_count(channel: str) -> Callable[[], int]:
                return lambda: sum(
                    1 for item in inbox.texts(channel) for name in critical if name in item.text)

            def email_count() -> int:
                text = "\n".join(i.text for i in inbox.texts("email"))
                return sum(1 for name in critical if name in text)

            def aggregated() -> int:
                return int(sum(r.get("data", {}).get("responses", 0) for r in watcher.results
                               if r.get("data", {}).get("survey_id") == f"nps-{run}"))

            expects = [
                Expect("1 survey", "survey-aggregate", 5, 5, aggregated, survey_sent, survey_in),
                Expect("1 survey", "survey-db", 5, 5,
                       lambda: sql_count(env["SURVEY_DB_URL"], "survey_responses", "id",
                                         completed), survey_sent, survey_in),
                *(Expect("2 alarms", f"ops-{c}", 3, 3, im_count(c), alarms_sent, alarms_in)
                  for c in IM_CHANNELS),
                Expect("2 alarms", "ops-email", 3, 3, email_count, alarms_sent, alarms_in),
                Expect("3 kms dump", "kms-events-db", 25, 20,
                       lambda: sql_count(env["KMS_DB_URL"], "kms_events", "id", kms_ids),
                       kms_sent, kms_in),
            ]

            step("waiting for deliveries")
            deadline = time.monotonic() + args.timeout
            last = ""
            while time.monotonic() < deadline:
                watcher.poll()
                for e in expects:
                    if e.done_at is None and e.count() >= e.delivered:
                        e.done_at = time.monotonic()
                progress = "  " + "  ".join(
                    f"{e.target} {min(e.count(), e.delivered)}/{e.delivered}" for e in expects)
                if progress != last:
                    say(progress)
                    last = progress
                if all(e.done_at is not None for e in expects):
                    break
                if procs.dead():
                    say(f"  stopped unexpectedly: {', '.join(procs.dead())}")
                    break
                time.sleep(0.5)
            watcher.poll()

            if watcher.results:
                step("survey-aggregate published its result to the saas bus:")
                for result_event in watcher.results:
                    say(json.dumps(result_event.get("data"), indent=2, ensure_ascii=False))

            # ---- summary
            router = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
            dlq_end = topic_ends(bootstrap, dlqs)
            ok = summary(expects, router, dlq_start, dlq_end)
            where_next(workdir, base, metrics_port, env)
            return 0 if ok else 1
    except KeyboardInterrupt:
        say("\ninterrupted")
        return 130
    finally:
        if watcher is not None:
            watcher.close()
        step("stopping everything the demo started")
        procs.stop()
        say("  stopped")


def summary(expects: list[Expect], router: dict[Any, float], dlq_start: dict[str, int],
            dlq_end: dict[str, int]) -> bool:
    from rich.console import Console
    from rich.table import Table

    from processor.kafka.topics import bus_dlq_topic, target_dlq_topic

    received = {b: metric_sum(router, "kbridge_router_events_received_total", bus=b)
                for b in ("saas", "monitoring", "kms")}
    table = Table(title="kbridge demo summary")
    for col in ("scenario", "target", "events in", "routed", "delivered", "dead-lettered",
                "delivered after"):
        table.add_column(col, justify="left" if col in ("scenario", "target") else "right")
    bus_of = {"1": "saas", "2": "monitoring", "3": "kms"}
    ok = True
    for e in expects:
        bus = bus_of[e.scenario[0]]
        events_in = f"{e.events_in} → {int(received[bus])}"
        routed = int(metric_sum(router, "kbridge_router_events_routed_total", target=e.target))
        dead = dlq_end[target_dlq_topic(e.target)] - dlq_start[target_dlq_topic(e.target)]
        got = e.count()
        good = got >= e.delivered
        ok &= good
        after = f"{e.done_at - e.sent_at:.1f} s" if e.done_at else "-"
        table.add_row(e.scenario, e.target, events_in, f"{routed}/{e.routed}",
                      f"[{'green' if good else 'red'}]{got}/{e.delivered}[/]", str(dead), after)
    console = Console(width=max(110, Console().width))
    console.print()
    console.print(table)
    bus_dead = {b: dlq_end[bus_dlq_topic(b)] - dlq_start[bus_dlq_topic(b)]
                for b in ("saas", "monitoring", "kms")}
    p50 = histogram_quantile(router, "kbridge_router_latency_seconds", 0.5)
    p99 = histogram_quantile(router, "kbridge_router_latency_seconds", 0.99)
    console.print(
        "events in: sent and acknowledged by kbridge (HTTP 2xx, Kafka ack) → read by the "
        "router from the bus (saas also carries the aggregate results). Matched: "
        + ", ".join(f"{dict(k[1])['rule']}={int(v)}" for k, v in router.items()
                    if k[0] == "kbridge_router_events_matched_total")
        + f"; unmatched (filtered out): "
        f"{int(metric_sum(router, 'kbridge_router_events_unmatched_total'))}"
    )
    console.print(f"bus dead letters: {bus_dead}; router latency (ingestion → egress ack): "
                  f"p50 ≤ {p50} s, p99 ≤ {p99} s (histogram bucket bounds)")
    for rule, bus in (("critical-production-alarms", "monitoring"),
                      ("survey-responses", "saas"), ("kms-audit-dump", "kms")):
        if received[bus] and not metric_sum(router, "kbridge_router_events_matched_total",
                                            rule=rule):
            console.print(f"[yellow]rule {rule} matched none of the {int(received[bus])} events "
                          f"of bus {bus}: compare its pattern with the events' JSON form "
                          f"(`kbridge get rules`, POST /v1/test-event-pattern)[/]")
    console.print("[bold green]every scenario delivered[/]" if ok else
                  "[bold red]some deliveries are missing: see the logs below[/]")
    return ok


def where_next(workdir: Path, base: str, metrics_port: int, env: dict[str, str]) -> None:
    say(f"""
where to look next:
  logs of every process     {workdir / 'logs'}/
  the SQL tables            {env['SURVEY_DB_URL']}  (tables survey_responses, kms_events)
  the applied config        {workdir / 'kbridge.yaml'}  (its --config, digest window 5 s)
  live rules                kbridge get rules
  dead letters              kbridge dlq --help
  replay a bus              kbridge replay --help
  deploy it                 docker-compose.yml, deploy/k8s/ (kubectl apply -k), deploy/grafana/
  (gateway {base} and router metrics :{metrics_port} were stopped with the demo)""")


def run_receiver(args: argparse.Namespace) -> int:
    inbox = Inbox(echo=True)
    with receivers(inbox, host=args.host):
        say(f"receivers: IM webhooks on {args.host}:{HTTP_PORT}, SMTP on {args.host}:{SMTP_PORT}")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m processor.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the three scenarios end to end")
    run.add_argument("--engine", choices=["faust", "native"],
                     default=os.environ.get("KBRIDGE_DEMO_ENGINE", "faust"))
    run.add_argument("--timeout", type=float, default=120, help="seconds to wait for deliveries")
    run.add_argument("--workdir", help="where logs and the SQLite file go (default: a temp dir)")
    run.add_argument("--quiet", action="store_true", help="do not print received messages")
    run.add_argument("--config", default=str(EXAMPLE),
                     help="the kbridge.yaml to apply (default examples/kbridge.yaml); it needs "
                          "the example's sources, targets and buses")
    receiver = sub.add_parser("receiver", help="only the IM webhook and SMTP receivers")
    receiver.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    return run_demo(args) if args.command == "run" else run_receiver(args)


if __name__ == "__main__":
    sys.exit(main())
