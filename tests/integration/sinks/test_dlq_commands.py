"""``kbridge dlq list`` / ``redrive`` and ``kbridge sink`` as a process, against real Kafka."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sink_support import (
    FAST,
    StaticConfig,
    make_topics,
    produce,
    read_all,
    receiver,
    running,
    until,
)
from typer.testing import CliRunner

from processor.cli import build_app
from processor.errors import FatalError
from processor.kafka import KafkaClientConfig
from processor.kafka.topics import target_topic
from processor.sinks.dlq import list_dead_letters, redrive
from processor.sinks.testing import ListSink
from processor.sinks.worker import SinkWorker

pytestmark = pytest.mark.kafka


async def _dead_letter(kafka: KafkaClientConfig, target: str, n: int) -> None:
    config = StaticConfig(targets={target: object()})
    sink = ListSink(lambda d, a: FatalError("HTTP 404 from h", code="http-404"))
    worker = SinkWorker(
        target, kafka=kafka, snapshot=lambda: config, settings=FAST, builder=lambda t, c: sink
    )
    async with running(worker):
        await until(lambda: worker.dead_lettered >= n, what="dead letters")


async def test_list_and_redrive_once(
    kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    target = f"dlq-{unique}"
    make_topics(kafka, target)
    produce(kafka, target_topic(target), 12)
    await _dead_letter(kafka, target, 12)

    letters = list_dead_letters(kafka, target)
    assert sorted(r.event_id for r in letters) == sorted(f"evt-{i}" for i in range(12))
    assert {r.summary()["code"] for r in letters} == {"http-404"}

    monkeypatch.setenv("KBRIDGE_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    result = CliRunner().invoke(build_app(), ["dlq", "list", target, "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert len(rows) == 12 and rows[0]["condition"] == "non-retriable"

    assert redrive(kafka, target) == 12
    assert redrive(kafka, target) == 0  # already redriven: nothing sent twice
    again = CliRunner().invoke(build_app(), ["dlq", "redrive", target, "--since", "1h"])
    assert again.exit_code == 0 and "redrove 12" in again.output

    back = read_all(kafka, target_topic(target), 12 + 12 + 12)
    redriven = [m for m in back if any(k == "kbridge-error-code" for k, _ in m.headers() or [])]
    assert len(back) == 36 and redriven == []  # dead-letter headers are stripped
    config = StaticConfig(targets={target: object()})
    healthy = ListSink()
    worker = SinkWorker(
        target, kafka=kafka, snapshot=lambda: config, settings=FAST, builder=lambda t, c: healthy
    )
    # the group already committed the first 12; the 24 redriven ones are delivered now
    async with running(worker):
        await until(lambda: len(healthy.delivered) >= 24, what="redriven deliveries")
    assert {d.event_id for d in healthy.delivered} == {f"evt-{i}" for i in range(12)}
    assert all(d.rule == "r1" for d in healthy.delivered)


def test_kbridge_sink_process_delivers_and_stops_on_sigterm(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    target = f"proc-{unique}"
    make_topics(kafka, target)
    produce(kafka, target_topic(target), 20)
    with receiver() as server:
        config_file = tmp_path / "kbridge.yaml"
        config_file.write_text(
            "targets:\n"
            f"  - {{name: {target}, kind: webhook, url: '{server.url}/in',"
            " allow_private_network: true}\n"
        )
        env = {**os.environ, "KBRIDGE_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap}
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            metrics_port = probe.getsockname()[1]
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "processor",
                "sink",
                target,
                "-f",
                str(config_file),
                "--metrics-port",
                str(metrics_port),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while len(server.accepted) < 20 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(server.accepted) == 20
            metric = f'kbridge_sink_events_delivered_total{{target="{target}"}} 20.0'
            deadline = time.monotonic() + 10
            body = ""
            while metric not in body and time.monotonic() < deadline:
                body = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
                time.sleep(0.1)
            assert metric in body
        finally:
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=30)[0].decode()
        assert process.returncode == 0, output
        assert "stopped (20 delivered, 0 dead-lettered)" in output
