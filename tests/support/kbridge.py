"""Run kbridge commands as users do and read topics back (end-to-end, chaos, cluster tests).

The ``kbridge`` fixture is registered for every test by ``tests/conftest.py``; import
:class:`Kbridge` and :func:`read_topic` from here (``tests.support.kbridge``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

ROOT = Path(__file__).parents[2]


class Kbridge:
    """Runs ``python -m processor ...`` against the test broker and a private rules topic."""

    def __init__(self, bootstrap: str, unique: str, tmp: Path) -> None:
        self.bootstrap = bootstrap
        self.unique = unique
        self.tmp = tmp
        self.env = {
            **os.environ,
            "KBRIDGE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "KBRIDGE_RULES_TOPIC": f"kbridge.rules.test-{unique}",
            "PYTHONUNBUFFERED": "1",
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "processor", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kbridge {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def apply(self, config_text: str, *extra: str) -> None:
        path = self.tmp / f"kbridge-{time.monotonic_ns()}.yaml"
        path.write_text(config_text)
        self.run("apply", "-f", str(path), *extra)

    def start(self, *args: str, name: str = "proc") -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}-{len(self.processes)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "processor", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        self.processes.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-5000:] for p in self.tmp.glob("*.log"))

    def log_count(self, text: str, name: str) -> int:
        """How many lines of the logs of the processes started as ``name`` contain ``text``."""
        return sum(
            line.count(text)
            for path in self.tmp.glob(f"{name}-*.log")
            for line in path.read_text(errors="replace").splitlines()
        )

    def wait_for_log(self, text: str, name: str, count: int, timeout: float = 60.0) -> None:
        """Until ``text`` appeared ``count`` times in ``name``'s logs.

        Tests wait for a process's own word (e.g. the router's "routing table rebuilt"
        after an apply) instead of a fixed sleep that is too long on a quiet machine and
        possibly too short on a busy one.
        """
        deadline = time.monotonic() + timeout
        while self.log_count(text, name) < count:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{text!r} not seen {count} times in {name}'s log within {timeout} s\n"
                    + self.logs()
                )
            time.sleep(0.1)

    def stop_all(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def kbridge(kafka_bootstrap: str, unique: str, tmp_path: Path) -> Iterator[Kbridge]:
    runner = Kbridge(kafka_bootstrap, unique, tmp_path)
    try:
        yield runner
    finally:
        runner.stop_all()


def read_topic(
    bootstrap: str,
    topic: str,
    expected: int,
    *,
    timeout: float = 60.0,
    settle: float = 1.0,
    read_committed: bool = True,
) -> list[Any]:
    """Read ``topic`` from the beginning until ``expected`` records (then ``settle`` s more)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed" if read_committed else "read_uncommitted",
            "topic.metadata.refresh.interval.ms": 1000,
        }
    )
    consumer.subscribe([topic])
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    reached: float | None = None
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error() is None:
                    records.append(msg)
            if len(records) >= expected:
                reached = reached or time.monotonic()
                if time.monotonic() - reached >= settle:
                    break
    finally:
        consumer.close()
    return records
