"""The SSRF guard on every outbound kind (issue 22 items 3 and 4), against real servers.

Each kind is pointed at a real service on loopback through the *name* ``localhost`` (IP
literals are already refused at validation, issue 22.5): refused without
``allow_private_network`` (records fail with the non-retriable ``ssrf-refused``, the setup
never raises, nothing reaches the server), delivered with it. Pinning is shown by names that
only the guard's resolver knows (``*.invalid``, RFC 6761: never resolvable): the connection
can only succeed if it goes to the address the guard vetted, not to a second DNS lookup.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sink_support import (
    FAST,
    StaticConfig,
    committed,
    make_topics,
    produce,
    read_all,
    receiver,
    running,
    until,
)

from processor import netguard
from processor.config.sources import KafkaSource as KafkaSourceConfig
from processor.config.targets import EmailTarget, KafkaTarget, SlackTarget
from processor.kafka import KafkaClientConfig, Producer, TopicSpec, ensure_topics
from processor.kafka.topics import target_dlq_topic
from processor.netguard import SsrfRefused
from processor.sinks.base import Delivery
from processor.sinks.im.email import EmailSink
from processor.sinks.kafka import build_kafka
from processor.sinks.mysql import MysqlSink
from processor.sinks.webhook import WebhookSink
from processor.sinks.worker import SinkWorker
from processor.sources.kafka import KafkaSource

pytestmark = pytest.mark.kafka


def _items(n: int) -> list[Delivery]:
    return [
        Delivery(
            value=b'{"n": %d}' % i,
            headers={"ce_id": f"ssrf-{i}", "ce_source": "s", "ce_type": "t"},
            offset=i,
        )
        for i in range(n)
    ]


def _refused(outcomes: Any, n: int) -> None:
    assert len(outcomes) == n
    for outcome in outcomes:
        assert isinstance(outcome, SsrfRefused), outcome
        assert outcome.code == "ssrf-refused" and not outcome.retriable
        assert "allow_private_network" in str(outcome)  # the hint


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Names only the guard can resolve: ``{name: address}``."""
    names: dict[str, str] = {}
    real_async, real_sync = netguard.resolve, netguard.resolve_sync

    async def resolve(host: str, port: int) -> list[str]:
        return [names[host]] if host in names else await real_async(host, port)

    def resolve_sync(host: str, port: int) -> list[str]:
        return [names[host]] if host in names else real_sync(host, port)

    monkeypatch.setattr(netguard, "resolve", resolve)
    monkeypatch.setattr(netguard, "resolve_sync", resolve_sync)
    return names


# ---- HTTP -------------------------------------------------------------------------------


async def test_http_connects_to_the_vetted_address(pinned: dict[str, str]) -> None:
    with receiver() as server:
        port = server.url.rsplit(":", 1)[1]
        pinned["kbridge-hook.invalid"] = "127.0.0.1"
        sink = WebhookSink(f"http://kbridge-hook.invalid:{port}/in", allow_private_network=True)
        assert await sink.deliver(_items(2)) == [None, None]
        await sink.close()
        assert [r[1]["Host"] for r in server.requests] == [f"kbridge-hook.invalid:{port}"] * 2


async def test_http_name_turning_private_is_refused_at_connection(
    pinned: dict[str, str],
) -> None:
    with receiver() as server:
        port = server.url.rsplit(":", 1)[1]
        pinned["hooks.example.com"] = "127.0.0.1"  # DNS rebinding onto loopback
        sink = WebhookSink(f"http://hooks.example.com:{port}/in")
        await sink.setup()  # never raises for the destination
        _refused(await sink.deliver(_items(3)), 3)
        await sink.close()
        assert server.requests == []


# ---- SQL ------------------------------------------------------------------------------------


@pytest.mark.mariadb
async def test_mysql_on_a_private_address_is_refused_unless_allowed(
    mysql_url: str, unique: str, pinned: dict[str, str]
) -> None:
    table = f"ssrf_{unique}"
    named = mysql_url.replace("@127.0.0.1", "@localhost")
    refused = MysqlSink(named, table)
    await refused.setup()  # logs, does not raise: records carry the refusal
    _refused(await refused.deliver(_items(3)), 3)
    await refused.close()
    engine = sa.create_engine(mysql_url)
    try:
        assert not sa.inspect(engine).has_table(table)  # not even the DDL went through

        pinned["kbridge-db.invalid"] = "127.0.0.1"
        allowed = MysqlSink(
            mysql_url.replace("@127.0.0.1", "@kbridge-db.invalid"),
            table,
            allow_private_network=True,
        )
        await allowed.setup()
        assert await allowed.deliver(_items(3)) == [None, None, None]
        await allowed.close()
        with engine.begin() as conn:
            assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar() == 3
            conn.execute(sa.text(f"DROP TABLE {table}"))
    finally:
        engine.dispose()


# ---- Kafka ----------------------------------------------------------------------------------


async def test_kafka_target_cluster_on_a_private_address_is_refused(
    kafka_bootstrap: str, unique: str
) -> None:
    named = kafka_bootstrap.replace("127.0.0.1", "localhost")
    target = KafkaTarget(
        name=f"fwd-{unique}",
        topic=f"fwd-{unique}",
        cluster=KafkaClientConfig(bootstrap_servers=named),
    )
    sink = build_kafka(target)
    await sink.setup()
    _refused(await sink.deliver(_items(2)), 2)
    await sink.close()

    ensure_topics(
        KafkaClientConfig(bootstrap_servers=kafka_bootstrap), [TopicSpec(target.topic, 1)]
    )
    allowed = build_kafka(target.model_copy(update={"allow_private_network": True}))
    assert await allowed.deliver(_items(2)) == [None, None]
    await allowed.close()
    assert len(read_all(KafkaClientConfig(bootstrap_servers=kafka_bootstrap), target.topic, 2)) == 2


async def test_kafka_advertised_brokers_are_vetted_too(
    kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bootstrap that passes (here: the check is skipped) must not lead to a broker on a
    # private address: librdkafka connects where the cluster's metadata says.
    async def public_bootstrap(*args: Any, **kwargs: Any) -> None:
        return None

    monkeypatch.setattr("processor.sinks.kafka.check_servers", public_bootstrap)
    target = KafkaTarget(
        name=f"adv-{unique}",
        topic=f"adv-{unique}",
        cluster=KafkaClientConfig(
            bootstrap_servers=kafka_bootstrap.replace("127.0.0.1", "localhost")
        ),
    )
    sink = build_kafka(target)
    outcomes = await sink.deliver(_items(1))
    await sink.close()
    _refused(outcomes, 1)
    assert "Kafka broker" in str(outcomes[0])


async def test_kafka_source_cluster_on_a_private_address_ends_the_source(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    config = KafkaSourceConfig(
        name=f"src-{unique}",
        bus="b",
        cluster=KafkaClientConfig(
            bootstrap_servers=kafka_bootstrap.replace("127.0.0.1", "localhost")
        ),
        topics=[f"up-{unique}"],
    )
    producer = Producer(kafka)
    try:
        with pytest.raises(SsrfRefused, match="allow_private_network"):
            await asyncio.wait_for(KafkaSource(config, producer).run(), 30)
    finally:
        producer.close()


# ---- SMTP -----------------------------------------------------------------------------------


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Mailbox, int]]:
    mailbox = _Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def _email(host: str, port: int, **extra: Any) -> EmailTarget:
    return EmailTarget(
        name="mail",
        host=host,
        port=port,
        tls="none",
        from_addr="kbridge@example.com",
        to=["ops@example.com"],
        timeout_seconds=5,
        **extra,
    )


async def test_smtp_on_a_private_address_is_refused_unless_allowed(
    smtp: tuple[_Mailbox, int], pinned: dict[str, str]
) -> None:
    mailbox, port = smtp
    refused = EmailSink(_email("localhost", port))
    await refused.setup()
    _refused(await refused.deliver(_items(2)), 2)
    await refused.close()
    assert mailbox.messages == []

    pinned["kbridge-smtp.invalid"] = "127.0.0.1"
    allowed = EmailSink(_email("kbridge-smtp.invalid", port, allow_private_network=True))
    await allowed.setup()
    assert await allowed.deliver(_items(2)) == [None, None]
    await allowed.close()
    assert len(mailbox.messages) == 2


# ---- issue 22.4: a refused IM destination through the real worker ----------------------------


async def test_refused_im_destination_is_dead_lettered_not_retried_forever(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    name = f"slack-{unique}"
    make_topics(kafka, name)
    with receiver() as server:
        url = server.url.replace("127.0.0.1", "localhost") + "/services/T/B/secret"
        config = StaticConfig(targets={name: SlackTarget(name=name, url=url)})
        produce(kafka, f"kbridge.target.{name}", 4)
        worker = SinkWorker(name, kafka=kafka, snapshot=lambda: config, settings=FAST)
        async with running(worker):
            await until(lambda: worker.dead_lettered >= 4, timeout=30, what="dead letters")
        assert server.requests == []
    dead = [
        {k: v.decode() for k, v in m.headers()}
        for m in read_all(kafka, target_dlq_topic(name), 4, timeout=10)
    ]
    assert len(dead) == 4
    assert {h["kbridge-error-code"] for h in dead} == {"ssrf-refused"}
    assert {h["kbridge-exhausted-condition"] for h in dead} == {"non-retriable"}
    assert all("secret" not in h["kbridge-error-message"] for h in dead)  # no token
    offsets = committed(kafka, name)
    assert sum(o for o in offsets.values() if o > 0) == 4  # the partitions moved on


# ---- issue 22.5: the management API refuses private literals like kbridge validate -----------


async def test_management_api_refuses_private_literals_naming_the_field(
    kafka_bootstrap: str, unique: str
) -> None:
    import time

    import httpx

    from processor.gateway.app import create_app
    from processor.kafka.admin import delete_topics
    from processor.settings import Settings
    from tests.integration.gateway.gateway_harness import serve

    settings = Settings(kafka=KafkaClientConfig(bootstrap_servers=kafka_bootstrap))
    topic = f"kbridge.rules.ssrf-{unique}"
    app = create_app(settings, rules_topic=topic)

    def exercise() -> None:
        with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
            for _ in range(100):  # the store replays the (new, empty) topic first
                if http.get("/readyz").status_code == 200:
                    break
                time.sleep(0.1)
            metadata = {"name": f"m-{unique}", "kind": "webhook", "url": "http://169.254.169.254/"}
            refused = http.post("/v1/targets", json=metadata)
            assert refused.status_code == 400, refused.text
            problem = refused.json()["error"]["problems"][0]
            assert problem["location"].endswith(".url")
            assert "169.254.169.254 is the cloud metadata service" in problem["message"]
            assert "allow_private_network" in problem["message"]
            smtp = {
                "name": f"e-{unique}",
                "kind": "email",
                "host": "10.0.0.25",
                "from_addr": "a@b.c",
                "to": ["x@y.z"],
            }
            assert http.post("/v1/targets", json=smtp).status_code == 400
            allowed = http.post("/v1/targets", json={**metadata, "allow_private_network": True})
            assert allowed.status_code == 201, allowed.text

    try:
        await asyncio.to_thread(exercise)
    finally:
        delete_topics(settings.kafka, [topic])
