"""Python side of the event-ruler harness: build it once, talk JSON lines to it.

The Java program (``src/main/java/kbridge/interop/Main.java``) wraps AWS's event-ruler,
the engine behind EventBridge. It is built with Maven into ``target/`` on first use and the
build is reused while the sources are older than the classes. Used by the differential
tests and by ``bench/patterns.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HARNESS_DIR = Path(__file__).resolve().parent
TARGET = HARNESS_DIR / "target"
MAIN_CLASS = "kbridge.interop.Main"


class HarnessUnavailable(RuntimeError):
    """Java or Maven is missing, or the build failed."""


def _sources() -> list[Path]:
    return [HARNESS_DIR / "pom.xml", *sorted((HARNESS_DIR / "src").rglob("*.java"))]


def _is_built() -> bool:
    marker = TARGET / "classes" / "kbridge" / "interop" / "Main.class"
    lib = TARGET / "lib"
    if not marker.exists() or not lib.is_dir() or not any(lib.glob("event-ruler-*.jar")):
        return False
    built = marker.stat().st_mtime
    return all(p.stat().st_mtime <= built for p in _sources())


def build() -> None:
    """Build the harness with Maven unless an up-to-date build exists."""
    if _is_built():
        return
    mvn = shutil.which("mvn")
    if mvn is None or shutil.which("java") is None:
        raise HarnessUnavailable("the event-ruler harness needs `java` (17+) and `mvn` on PATH")
    proc = subprocess.run(
        [mvn, "-q", "-B", "package", "-DskipTests"],
        cwd=HARNESS_DIR,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise HarnessUnavailable(
            f"mvn package failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )


@dataclass(frozen=True)
class MatchResult:
    """event-ruler's answer for one batch: rules it refused, and matches per event."""

    errors: dict[str, str]
    results: list[set[str]]


class EventRuler:
    """A running harness process; one request at a time."""

    def __init__(self) -> None:
        build()
        classpath = os.pathsep.join([str(TARGET / "classes"), str(TARGET / "lib" / "*")])
        self._proc = subprocess.Popen(
            ["java", "-XX:+UseSerialGC", "-Xss4m", "-cp", classpath, MAIN_CLASS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise HarnessUnavailable(f"event-ruler harness exited ({self._proc.poll()})")
        reply: dict[str, Any] = json.loads(line)
        if "fatal" in reply:
            raise HarnessUnavailable(f"event-ruler harness failed: {reply['fatal']}")
        return reply

    def check(self, pattern: str) -> str | None:
        """event-ruler's ``RuleCompiler.check``: ``None`` or the reason it rejects."""
        error = self._call({"op": "check", "pattern": pattern})["error"]
        return None if error is None else str(error)

    def complexity(self, pattern: str) -> int:
        """event-ruler's wildcard complexity of a one-rule machine."""
        return int(self._call({"op": "complexity", "pattern": pattern})["complexity"])

    def java_double_text(self, number: str) -> str:
        """``Double.toString(Double.parseDouble(number))`` as the JVM prints it."""
        return str(self._call({"op": "tostring", "number": number})["text"])

    def match(self, rules: Sequence[tuple[str, str]], events: Iterable[str]) -> MatchResult:
        """Build a machine of ``rules`` (name, pattern JSON) and match every event."""
        reply = self._call(
            {"op": "match", "rules": [list(r) for r in rules], "events": list(events)}
        )
        return MatchResult(
            errors={str(k): str(v) for k, v in reply["errors"].items()},
            results=[set(r) for r in reply["results"]],
        )

    def bench(
        self, rules: Sequence[tuple[str, str]], events: Sequence[str], seconds: float
    ) -> float:
        """Events per second of ``rulesForJSONEvent`` measured inside the JVM."""
        reply = self._call(
            {
                "op": "bench",
                "rules": [list(r) for r in rules],
                "events": list(events),
                "seconds": seconds,
            }
        )
        return float(reply["events_per_sec"])

    def close(self) -> None:
        """Stop the process (closing stdin ends its read loop)."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
