"""Tracing on against tracing off, side by side: both contenders run at the same time.

On the shared 2-core machine the load changes several-fold between two sequential runs
(docs/tracing.md shows the same router contender moving 2-7x), far more than tracing
costs. Here the traced and the untraced process run simultaneously on the same events, so
both see the same load; each round reports both and their ratio, and the summary is the
median over rounds.

* ``router``: two ``kbridge router --engine native`` processes (one with
  ``KBRIDGE_TRACE__ENABLED=false``) in two consumer groups on the same bus, the workload
  of ``bench/router.py`` (1,000 rules, ~1 KB events, ~10% match). Per round ``--events``
  are produced; each router's CPU (from /proc) per event and its own time to commit them.
* ``gateway``: two ``kbridge gateway`` processes (one untraced) on the same bus, each
  driven by the same PutEvents load (batches of 10 ~1 KB entries, ``--concurrency``
  connections each) for ``--seconds``; accepted events/s and CPU per accepted event.

    python bench/trace_ab.py router [--events 20000] [--rounds 4]
    python bench/trace_ab.py gateway [--seconds 8] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

import gateway as gateway_bench  # bench/gateway.py: the gateway and its load driver
import router as router_bench  # bench/router.py: the workload and helpers

from processor.config import parse_config
from processor.config.provision import ensure_config_topics
from processor.config.publish import publish_config
from processor.kafka import KafkaClientConfig, Producer, TopicSpec, ensure_topics
from processor.kafka.topics import bus_topic

BOOTSTRAP = router_bench.BOOTSTRAP
SIDES = ("on", "off")


def report(rows: list[dict[str, float]], rate: str, cpu: str) -> None:
    """Per-round lines are printed as they come; this prints the medians."""
    ratio_rate = statistics.median(r[f"{rate}_on"] / r[f"{rate}_off"] for r in rows)
    ratio_cpu = statistics.median(r[f"{cpu}_on"] / r[f"{cpu}_off"] for r in rows)
    print(
        f"median over {len(rows)} rounds: throughput on/off {ratio_rate:.3f} "
        f"({(ratio_rate - 1) * 100:+.1f} %), CPU per event on/off {ratio_cpu:.3f} "
        f"({(ratio_cpu - 1) * 100:+.1f} %)"
    )
    for side in SIDES:
        print(
            f"  tracing {side}: median {statistics.median(r[f'{rate}_{side}'] for r in rows):,.0f}"
            f" ev/s, {statistics.median(r[f'{cpu}_{side}'] for r in rows):.1f} µs CPU/event"
        )


def routers(
    events: int, rounds: int, rules: int, round_timeout: float, on_env: dict[str, str]
) -> None:
    run = uuid.uuid4().hex[:6]
    bus = f"bench-ab-{run}"
    kafka = KafkaClientConfig(bootstrap_servers=BOOTSTRAP)
    rules_topic = f"kbridge.rules.bench-{run}"
    config = parse_config(router_bench.make_config([bus], rules), "bench.yaml")
    ensure_config_topics(kafka, config)
    ensure_topics(kafka, [TopicSpec("sink", 4)])
    publish_config(kafka, config, topic=rules_topic)
    env = {
        **os.environ,
        "KBRIDGE_KAFKA__BOOTSTRAP_SERVERS": BOOTSTRAP,
        "KBRIDGE_RULES_TOPIC": rules_topic,
        "KBRIDGE_LOG_LEVEL": "WARNING",
        "KBRIDGE_TRACE__TOPIC": f"kbridge.trace.bench-{run}",
    }
    groups = {side: f"g-{bus}-{side}" for side in SIDES}
    procs = {}
    for side in SIDES:
        command = [sys.executable, "-m", "processor", "--log-level", "WARNING", "router"]
        command += ["--engine", "native", "--group-id", groups[side]]
        side_env = {**env, "KBRIDGE_TRACE__ENABLED": "true" if side == "on" else "false"}
        if side == "on":
            side_env.update(on_env)
        procs[side] = subprocess.Popen(command, env=side_env)
    topic = bus_topic(bus)
    payload = router_bench.make_events(events)
    rows: list[dict[str, float]] = []
    try:
        time.sleep(12)  # start-up and group join
        for round_no in range(rounds + 1):  # round 0 warms up
            cpu0 = {s: router_bench.cpu_seconds(procs[s].pid) for s in SIDES}
            t0 = time.perf_counter()
            producer = Producer(kafka)
            outcomes = producer.send_batch([(topic, v, k, h) for k, v, h in payload])
            producer.close()
            assert outcomes.count(None) == len(payload)
            target = events * (round_no + 1)
            done: dict[str, float] = {}
            cpu: dict[str, float] = {}
            deadline = time.monotonic() + round_timeout
            while len(done) < len(SIDES):
                if time.monotonic() > deadline:
                    late = ", ".join(f"tracing {s}" for s in SIDES if s not in done)
                    print(f"round {round_no}: {late} did not commit every event in time; stopping")
                    break
                for side in SIDES:
                    if procs[side].poll() is not None:
                        raise SystemExit(f"router (tracing {side}) exited")
                    if side not in done and router_bench.committed(groups[side], topic) >= target:
                        done[side] = time.perf_counter() - t0
                        cpu[side] = router_bench.cpu_seconds(procs[side].pid) - cpu0[side]
                time.sleep(0.2)
            if len(done) < len(SIDES):
                break
            row = {f"rate_{s}": events / done[s] for s in SIDES}
            row.update({f"cpu_{s}": cpu[s] / events * 1e6 for s in SIDES})
            load = os.getloadavg()[0]
            print(
                f"round {round_no}{' (warm-up)' if round_no == 0 else ''}, load {load:.1f}: "
                + ", ".join(
                    f"tracing {s} {row[f'rate_{s}']:,.0f} ev/s {row[f'cpu_{s}']:.1f} µs/ev"
                    for s in SIDES
                ),
                flush=True,
            )
            if round_no:
                rows.append(row)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(30)
    if rows:
        report(rows, "rate", "cpu")


def gateways(seconds: float, rounds: int, concurrency: int, on_env: dict[str, str]) -> None:
    bus = f"bench-ab-{uuid.uuid4().hex[:8]}"
    kafka = KafkaClientConfig(bootstrap_servers=BOOTSTRAP)
    ensure_topics(kafka, [TopicSpec(bus_topic(bus), partitions=4)])
    os.environ["KBRIDGE_TRACE__TOPIC"] = f"kbridge.trace.{bus}"  # start_gateway copies it
    ports = {side: gateway_bench.free_port() for side in SIDES}
    procs = {}
    for side in SIDES:
        saved = dict(os.environ)
        if side == "on":
            os.environ.update(on_env)
        try:
            procs[side] = gateway_bench.start_gateway(bus, ports[side], BOOTSTRAP, 1, side == "on")
        finally:
            os.environ.clear()
            os.environ.update(saved)
    batch = 10
    requests = gateway_bench.putevents_requests(f"/v1/buses/{bus}/events", batch)
    rows: list[dict[str, float]] = []

    async def both(duration: float) -> list[gateway_bench.Run]:
        return list(
            await asyncio.gather(
                *(
                    gateway_bench.drive(ports[s], requests, batch, duration, concurrency)
                    for s in SIDES
                )
            )
        )

    try:
        pids = {side: gateway_bench.process_tree(procs[side].pid) for side in SIDES}
        asyncio.run(both(2.0))  # warm-up
        for round_no in range(1, rounds + 1):
            cpu0 = {s: gateway_bench.cpu_seconds(pids[s]) for s in SIDES}
            started = time.perf_counter()
            runs = dict(zip(SIDES, asyncio.run(both(seconds)), strict=True))
            elapsed = time.perf_counter() - started
            row: dict[str, float] = {}
            for s in SIDES:
                accepted = max(runs[s].accepted, 1)
                row[f"rate_{s}"] = accepted / elapsed
                row[f"cpu_{s}"] = (gateway_bench.cpu_seconds(pids[s]) - cpu0[s]) / accepted * 1e6
                assert runs[s].failed == 0, f"tracing {s}: {runs[s].failed} events failed"
            print(
                f"round {round_no}, load {os.getloadavg()[0]:.1f}: "
                + ", ".join(
                    f"tracing {s} {row[f'rate_{s}']:,.0f} ev/s {row[f'cpu_{s}']:.1f} µs/ev"
                    for s in SIDES
                ),
                flush=True,
            )
            rows.append(row)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(30)
    report(rows, "rate", "cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("router", "gateway"))
    parser.add_argument("--events", type=int, default=20_000, help="router: events per round")
    parser.add_argument("--rules", type=int, default=1_000, help="router: rules on the bus")
    parser.add_argument("--seconds", type=float, default=8.0, help="gateway: seconds per round")
    parser.add_argument("--concurrency", type=int, default=8, help="gateway: connections each")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--round-timeout", type=float, default=180.0, help="router: seconds a round may take"
    )
    parser.add_argument(
        "--on-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment of the traced side, e.g. KBRIDGE_TRACE__SAMPLE=0 (the "
        "writer runs but writes nothing: its fixed cost alone)",
    )
    args = parser.parse_args()
    on_env = dict(item.split("=", 1) for item in args.on_env)
    if args.what == "router":
        routers(args.events, args.rounds, args.rules, args.round_timeout, on_env)
    else:
        gateways(args.seconds, args.rounds, args.concurrency, on_env)


if __name__ == "__main__":
    main()
