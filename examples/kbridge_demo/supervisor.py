"""The kbridge processes the demo starts, stopped in order and by pid on exit or Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from kbridge_demo.console import say


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
            [sys.executable, "-m", "processor", *args], env=self.env,
            capture_output=True, text=True, timeout=timeout, check=False,
        )

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "processor", *args], env=self.env,
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
