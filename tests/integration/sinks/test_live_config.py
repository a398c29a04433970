"""Target changes published to the live configuration topic reach a running sink worker."""

from __future__ import annotations

import pytest
from sink_support import FAST, make_topics, produce, receiver, running, until

from processor.config.publish import publish_object
from processor.config.store import ConfigStore
from processor.config.targets import WebhookTarget
from processor.kafka import KafkaClientConfig
from processor.kafka.topics import target_topic
from processor.sinks.worker import SinkWorker

pytestmark = pytest.mark.kafka


async def test_worker_follows_target_changes_from_the_rules_topic(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    rules_topic = f"kbridge.rules.test-{unique}"
    name = f"live-{unique}"
    make_topics(kafka, name)
    with receiver() as old, receiver() as new:
        publish_object(
            kafka,
            WebhookTarget(name=name, url=old.url, allow_private_network=True),
            topic=rules_topic,
        )
        store = ConfigStore(kafka, topic=rules_topic)
        store.start()
        try:
            assert store.wait_until_caught_up(30)
            worker = SinkWorker(name, kafka=kafka, snapshot=store.snapshot, settings=FAST)
            async with running(worker):
                produce(kafka, target_topic(name), 20)
                await until(lambda: len(old.accepted) == 20, what="old destination")
                publish_object(
                    kafka,
                    WebhookTarget(name=name, url=new.url, allow_private_network=True),
                    topic=rules_topic,
                )
                await until(lambda: store.snapshot().target(name).url == new.url, what="store")
                produce(kafka, target_topic(name), 20, start=20)
                await until(lambda: len(new.accepted) == 20, what="new destination")
        finally:
            store.stop()
    assert set(new.accepted) == {f"evt-{i}" for i in range(20, 40)}
    assert len(old.accepted) == 20
