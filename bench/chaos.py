"""The chaos suite at full scale (issue 21): faults under load against the whole pipeline.

A 3-node KRaft cluster (``deploy/kafka/kafka.sh start --nodes 3``, ports 19092-19094, in a
folder of its own), a private MariaDB on a free port and a loopback webhook receiver are
started; per engine the pipeline ``kbridge gateway`` → ``router --engine <e>`` → ``kbridge
sink`` (webhook + mysql targets) runs as subprocesses. Each scenario offers PutEvents at a
steady rate before, during and after its fault, waits for the backlog and prints acked,
delivered (unique ids at the receiver, rows in MariaDB), dead letters, lost, duplicates and
the recovery time; the end is a markdown table (docs/operations.md#chaos-suite).

    python bench/chaos.py [--scenario NAME ...] [--engine native,faust] [--scale 1.0]
                          [--rate 200] [--workdir DIR]

Scenarios: broker-stop, broker-kill, router-kill, sink-kill, rolling-restart, mariadb-down,
webhook-flaky, two-brokers-down, unwritable-target (default: all). ``--scale`` multiplies the
durations (60 s faults at 1.0). Exit status 1 when any acknowledged event was lost. The
scenario code lives in tests/support/chaos.py, shared with tests/chaos/ (reduced scale).
Nothing here touches the shared broker on 9092 or the shared MariaDB on 3306.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.chaos import SCENARIOS, Result, Scale, pipeline, run_scenario, services, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--engine", default="native,faust", help="comma-separated engines")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the durations")
    parser.add_argument("--rate", type=float, default=200.0, help="PutEvents events per second")
    parser.add_argument("--workdir", type=Path, help="cluster and database folders (default: temp)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    names = args.scenario or list(SCENARIOS)
    engines = [e for e in args.engine.split(",") if e]
    scale = Scale(rate=args.rate).scaled(args.scale) if args.scale != 1.0 else Scale(rate=args.rate)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kbridge-chaos-"))
    results: list[Result] = []
    started = time.monotonic()
    with services(workdir) as (cluster, mariadb, receiver):
        for engine in engines:
            with pipeline(workdir, cluster, mariadb, receiver, engine, scale) as pipe:
                for name in names:
                    result = run_scenario(name, cluster, mariadb, receiver, pipe, scale)
                    results.append(result)
                    print(result.row(), flush=True)
                    if result.lost:
                        print(f"LOST in {name}/{engine}: {result.lost_ids}", flush=True)
    load = os.getloadavg()
    print(
        f"\n{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}, "
        f"{time.monotonic() - started:.0f} s, rate {scale.rate:.0f} ev/s, "
        f"faults {scale.fault:.0f} s\n"
    )
    print(table(results))
    return 1 if any(r.lost for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
