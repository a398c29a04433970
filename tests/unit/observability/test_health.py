"""The health endpoints (real HTTP server on a loopback port) and KafkaWatch's readiness rules."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from processor.clock import ManualClock
from processor.errors import ConfigError
from processor.kafka.config import KafkaClientConfig
from processor.observability.health import HealthServer, Readiness, serve_health
from processor.observability.kafkawatch import GroupView, KafkaWatch


def get(server: HealthServer, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, dict[str, str | None]]]:
    state: dict[str, str | None] = {"config": None}
    readiness = Readiness()
    readiness.add("config", lambda: state["config"])
    registry = CollectorRegistry()
    Counter("kbridge_test_things", "things", registry=registry).inc(3)
    server = HealthServer(0, readiness=readiness, registry=registry).start()
    try:
        yield server, state
    finally:
        server.stop()


def test_healthz_readyz_metrics_on_one_port(
    served: tuple[HealthServer, dict[str, str | None]],
) -> None:
    server, state = served
    assert get(server, "/healthz") == (200, b'{"status":"ok"}')
    status, body = get(server, "/readyz")
    assert status == 200
    assert json.loads(body) == {"status": "ready", "checks": {"config": "ok"}, "reason": "ok"}
    status, body = get(server, "/metrics")
    assert status == 200
    assert b"kbridge_test_things_total 3.0" in body
    assert get(server, "/nope")[0] == 404

    state["config"] = "no bus configured"
    status, body = get(server, "/readyz")
    assert status == 503
    assert json.loads(body)["reason"] == "config: no bus configured"
    assert get(server, "/healthz")[0] == 200  # alive, only not ready


def test_a_check_that_raises_is_not_ready_and_the_endpoint_still_answers() -> None:
    readiness = Readiness()

    def broken() -> str | None:
        raise RuntimeError("boom")

    readiness.add("broken", broken)
    ok, results = readiness.ready()
    assert not ok
    assert results["broken"] == "check failed: RuntimeError('boom')"


def watch(clock: ManualClock, group: str | None = "kbridge-router") -> KafkaWatch:
    config = KafkaClientConfig(bootstrap_servers="127.0.0.1:1")
    return KafkaWatch(config, group=group, unreachable_after=10.0, clock=clock)


def test_not_ready_before_the_first_answer_and_only_after_the_grace_period() -> None:
    clock = ManualClock(0)
    kafka = watch(clock)
    assert kafka.kafka_check() == "Kafka at 127.0.0.1:1 has not answered yet"
    kafka.record(True, GroupView("STABLE", 1))
    assert kafka.kafka_check() is None
    assert kafka.group_check() is None
    clock.advance(9)
    kafka.record(False)  # a hiccup shorter than the grace period: still ready
    assert kafka.kafka_check() is None
    clock.advance(2)
    kafka.record(False)
    assert kafka.kafka_check() == "Kafka at 127.0.0.1:1 unreachable for 11 s"
    kafka.record(True, GroupView("STABLE", 1))  # back by itself at the first answer
    assert kafka.kafka_check() is None


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        (None, "consumer group kbridge-router not described yet"),
        (GroupView("EMPTY", 0), "consumer group kbridge-router has no members (state EMPTY)"),
        (GroupView("DEAD", 0), "consumer group kbridge-router has no members (state DEAD)"),
        (GroupView("PREPARING_REBALANCE", 2), None),
        (GroupView("STABLE", 1), None),
    ],
)
def test_group_check(view: GroupView | None, expected: str | None) -> None:
    kafka = watch(ManualClock(0))
    kafka.record(True, view)
    assert kafka.group_check() == expected


def test_no_group_no_group_check() -> None:
    readiness = Readiness()
    watch(ManualClock(0), group=None).register(readiness)
    assert set(readiness.evaluate()) == {"kafka"}


def test_a_port_in_use_is_one_clear_error(
    served: tuple[HealthServer, dict[str, str | None]],
) -> None:
    taken = served[0].port
    with pytest.raises(ConfigError, match=rf"cannot serve .* on 127.0.0.1:{taken}: Address"):
        serve_health(taken)
