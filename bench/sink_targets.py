"""Memory of one `kbridge sink --all` process per idle target (issue 17 item 1).

For each count N, writes a kbridge.yaml with N webhook targets (one bus, no rules needed),
runs ``kbridge sink --all -f FILE`` against Kafka, waits until every target's worker has
joined its consumer group (kbridge status's Inspector), lets it idle a few seconds, and
reads the process's RSS (VmRSS) and thread count from /proc. Each worker has its own
consumer and producer (librdkafka clients with their own threads and buffers), so memory
grows about linearly with targets; the report gives the slope.

    python bench/sink_targets.py [--counts 1,10,100]

Needs Kafka on 127.0.0.1:9092 (KBRIDGE_TEST_KAFKA overrides it). Topics are named
kbridge.target.bench-<run>-<i> (and .dlq) and deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from processor.kafka import KafkaClientConfig  # noqa: E402
from processor.kafka.admin import delete_topics  # noqa: E402
from processor.status.collect import Inspector  # noqa: E402


def proc_status(pid: int) -> tuple[int, int]:
    """RSS in KiB and thread count of ``pid``."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]), int(fields["Threads"])


def measure(count: int, bootstrap: str) -> tuple[int, int, float]:
    run = uuid.uuid4().hex[:8]
    names = [f"bench-{run}-{i}" for i in range(count)]
    lines = [f"buses: [{{name: bench-{run}}}]", "targets:"]
    lines += [
        f'  - {{name: {n}, kind: webhook, url: "http://127.0.0.1:9/x", '
        "allow_private_network: true, partitions: 1}"
        for n in names
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kbridge.yaml"
        path.write_text("\n".join(lines) + "\n")
        env = {**os.environ, "KBRIDGE_KAFKA__BOOTSTRAP_SERVERS": bootstrap}
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "processor", "--log-level", "WARNING", "sink", "--all",
             "-f", str(path)],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            inspector = Inspector(KafkaClientConfig(bootstrap_servers=bootstrap))
            pending = set(names)
            deadline = time.monotonic() + 120 + count
            while pending and time.monotonic() < deadline:
                for name in list(pending):
                    group = inspector.group(f"kbridge-sink-{name}", f"kbridge.target.{name}")
                    if group.members:
                        pending.discard(name)
                time.sleep(1)
            if pending:
                raise SystemExit(f"{len(pending)} of {count} workers never joined")
            joined = time.monotonic() - started
            time.sleep(5)  # idle
            rss, threads = proc_status(proc.pid)
        finally:
            proc.terminate()
            proc.wait(60)
            topics = [f"kbridge.target.{n}{tail}" for n in names for tail in ("", ".dlq")]
            delete_topics(KafkaClientConfig(bootstrap_servers=bootstrap), topics)
    return rss, threads, joined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="1,10,100")
    args = parser.parse_args()
    bootstrap = os.environ.get("KBRIDGE_TEST_KAFKA", "127.0.0.1:9092")
    rows = []
    for count in (int(c) for c in args.counts.split(",")):
        rss, threads, joined = measure(count, bootstrap)
        rows.append((count, rss))
        print(
            f"{count:4d} idle targets: RSS {rss / 1024:7.1f} MiB, {threads:5d} threads, "
            f"all joined after {joined:5.1f} s",
            flush=True,
        )
    if len(rows) > 1:
        (c0, r0), (c1, r1) = rows[0], rows[-1]
        print(f"per additional idle target: {(r1 - r0) / (c1 - c0) / 1024:.2f} MiB")


if __name__ == "__main__":
    main()
