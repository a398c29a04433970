"""Webhook deliveries to real HTTP servers on loopback, through the worker and real Kafka."""

from __future__ import annotations

import random
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
from pydantic import SecretStr
from sink_support import (
    FAST,
    Receiver,
    StaticConfig,
    committed,
    end_offsets,
    make_topics,
    produce,
    read_all,
    receiver,
    running,
    until,
)

from processor.config.connections import OAuthClientCredentialsConnection
from processor.config.targets import WebhookTarget
from processor.kafka import KafkaClientConfig
from processor.kafka.topics import target_dlq_topic, target_topic
from processor.sinks.http import signing
from processor.sinks.worker import SinkWorker

pytestmark = pytest.mark.kafka


def _kafka(bootstrap: str) -> KafkaClientConfig:
    return KafkaClientConfig(bootstrap_servers=bootstrap)


def _dlq(kafka: KafkaClientConfig, name: str, expected: int) -> dict[str, dict[str, str]]:
    return {
        h["ce_id"]: h
        for h in (
            {k: v.decode() for k, v in m.headers()}
            for m in read_all(kafka, target_dlq_topic(name), expected, timeout=10)
        )
    }


async def test_flaky_receiver_gets_every_event_or_it_is_dead_lettered(
    kafka_bootstrap: str, unique: str
) -> None:
    rng = random.Random(42)
    lock = threading.Lock()

    def flaky(
        r: Receiver, h: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if h.headers.get("ce-id") == "evt-13":
            return 400, {}, b"bad request"
        with lock:
            roll = rng.random()
        if roll < 0.5:
            return 500, {}, b"oops"
        if roll < 0.6:
            return 429, {"Retry-After": "1"}, b"slow down"
        return 200, {}, b""

    kafka = _kafka(kafka_bootstrap)
    name = f"hook-{unique}"
    make_topics(kafka, name)
    with receiver(flaky) as server:
        target = WebhookTarget(
            name=name, url=server.url + "/in", secret=SecretStr("shh"), allow_private_network=True
        )
        config = StaticConfig(targets={name: target})
        config.add_rule("r1", name)
        produce(kafka, target_topic(name), 300)
        worker = SinkWorker(name, kafka=kafka, snapshot=lambda: config, settings=FAST)
        async with running(worker):
            await until(lambda: worker.delivered + worker.dead_lettered >= 300, what="settled")
        accepted = dict(server.accepted)
        requests = list(server.requests)
    dead = _dlq(kafka, name, 1)
    everything = {f"evt-{i}" for i in range(300)}
    assert set(accepted) | set(dead) == everything
    assert set(dead) == {"evt-13"}  # the 400; every retried 500/429 got through eventually
    assert dead["evt-13"]["kbridge-error-code"] == "http-400"
    assert dead["evt-13"]["kbridge-exhausted-condition"] == "non-retriable"
    assert dead["evt-13"]["kbridge-attempts"] == "1"
    assert len(requests) > 450  # roughly half of the requests failed and were retried
    for _path, headers, body in requests[:50]:
        assert signing.verify("shh", body, headers["X-Kbridge-Signature"])
    assert committed(kafka, name) == end_offsets(kafka, target_topic(name))


async def test_a_slow_target_does_not_delay_another(kafka_bootstrap: str, unique: str) -> None:
    def slow(
        r: Receiver, h: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        time.sleep(1.0)
        return 200, {}, b""

    kafka = _kafka(kafka_bootstrap)
    slow_name, fast_name = f"slow-{unique}", f"fast-{unique}"
    make_topics(kafka, slow_name)
    make_topics(kafka, fast_name)
    with receiver(slow) as slow_server, receiver() as fast_server:
        config = StaticConfig(
            targets={
                slow_name: WebhookTarget(
                    name=slow_name, url=slow_server.url, allow_private_network=True
                ),
                fast_name: WebhookTarget(
                    name=fast_name, url=fast_server.url, allow_private_network=True
                ),
            }
        )
        slow_worker = SinkWorker(slow_name, kafka=kafka, snapshot=lambda: config, settings=FAST)
        fast_worker = SinkWorker(fast_name, kafka=kafka, snapshot=lambda: config, settings=FAST)
        async with running(slow_worker), running(fast_worker):
            produce(kafka, target_topic(slow_name), 200)
            await until(lambda: len(slow_server.requests) > 0, what="slow target busy")
            started = time.monotonic()
            produce(kafka, target_topic(fast_name), 200)
            await until(lambda: len(fast_server.accepted) >= 200, timeout=30, what="fast target")
            fast_elapsed = time.monotonic() - started
            slow_done = len(slow_server.accepted)
    assert fast_elapsed < 8.0
    assert slow_done < 200  # the slow target was still busy while the fast one finished


async def test_oauth_token_refreshed_after_401(kafka_bootstrap: str, unique: str) -> None:
    state = {"token": "", "issued": 0, "served": 0}
    lock = threading.Lock()

    def oauth(
        r: Receiver, h: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        with lock:
            if h.path == "/token":
                assert b"grant_type=client_credentials" in body
                state["issued"] += 1
                state["token"] = f"tok-{state['issued']}"
                return (
                    200,
                    {"Content-Type": "application/json"},
                    (
                        b'{"access_token": "%s", "token_type": "Bearer", "expires_in": 3600}'
                        % state["token"].encode()
                    ),
                )
            if h.headers.get("Authorization") != f"Bearer {state['token']}":
                return 401, {}, b"invalid token"
            state["served"] += 1
            if state["served"] % 40 == 0:  # the server revokes tokens now and then
                state["token"] = "revoked"
            return 200, {}, b""

    kafka = _kafka(kafka_bootstrap)
    name = f"oauth-{unique}"
    make_topics(kafka, name)
    with receiver(oauth) as server:
        connection = OAuthClientCredentialsConnection(
            name="api",
            token_url=server.url + "/token",
            client_id="kbridge",
            client_secret=SecretStr("s3cret"),
            allow_private_network=True,
        )
        config = StaticConfig(
            targets={
                name: WebhookTarget(
                    name=name,
                    url=server.url + "/in",
                    connection="api",
                    allow_private_network=True,
                )
            },
            connections={"api": connection},
        )
        produce(kafka, target_topic(name), 150)
        worker = SinkWorker(name, kafka=kafka, snapshot=lambda: config, settings=FAST)
        async with running(worker):
            await until(lambda: worker.delivered + worker.dead_lettered >= 150, what="settled")
        accepted = set(server.accepted)
    assert worker.dead_lettered == 0
    assert accepted == {f"evt-{i}" for i in range(150)}
    assert state["issued"] >= 4  # first token plus a refresh after each revocation


async def test_ssrf_guard_refuses_loopback_unless_allowed(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka = _kafka(kafka_bootstrap)
    name = f"ssrf-{unique}"
    make_topics(kafka, name)
    with receiver() as server:
        # A name that resolves to loopback: validation refuses only IP literals (issue 22.5),
        # the sink refuses whatever the name resolves to at connection time (22.3).
        url = server.url.replace("127.0.0.1", "localhost") + "/in"
        config = StaticConfig(targets={name: WebhookTarget(name=name, url=url)})
        produce(kafka, target_topic(name), 5)
        worker = SinkWorker(name, kafka=kafka, snapshot=lambda: config, settings=FAST)
        async with running(worker):
            await until(lambda: worker.dead_lettered >= 5, what="refusals")
        assert server.requests == []
    dead = _dlq(kafka, name, 5)
    assert {h["kbridge-error-code"] for h in dead.values()} == {"ssrf-refused"}
    assert {h["kbridge-exhausted-condition"] for h in dead.values()} == {"non-retriable"}
