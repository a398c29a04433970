"""Function targets (HTTP endpoint, entry point) and the Kafka forwarder, end to end."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import orjson
import pytest
from sink_support import (
    FAST,
    Receiver,
    StaticConfig,
    make_topics,
    produce,
    read_all,
    receiver,
    running,
    until,
)

from processor.config.targets import FunctionTarget, KafkaTarget
from processor.events.kafka import decode
from processor.kafka import KafkaClientConfig, TopicSpec, ensure_topics
from processor.kafka.topics import bus_topic, target_topic
from processor.sinks.worker import SinkWorker

pytestmark = pytest.mark.kafka


def _survey_response(i: int) -> bytes:
    """A 腾讯问卷-shaped answer.create delivery (the questionnaire scenario)."""
    return orjson.dumps(
        {
            "id": f"delivery-{i}",
            "object": "Answer",
            "action": "answer.create",
            "payload": {
                "survey_id": "s-1" if i % 4 else "s-2",
                "answer_id": i,
                "respondent_id": f"u{i}",
                "duration": 60 + i,
                "answers": [
                    {"question_id": "q1", "answer": ["yes", "no"][i % 2]},
                    {"question_id": "nps", "answer": i % 11},
                ],
            },
        }
    )


async def test_entry_point_function_aggregates_and_publishes_to_a_bus(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    name, bus = f"agg-{unique}", f"results-{unique}"
    make_topics(kafka, name, partitions=1)
    ensure_topics(kafka, [TopicSpec(bus_topic(bus), 1)])
    target = FunctionTarget(name=name, entry_point="survey-aggregate", publish_to_bus=bus)
    config = StaticConfig(targets={name: target})
    produce(kafka, target_topic(name), 40, value=_survey_response)
    worker = SinkWorker(name, kafka=kafka, snapshot=lambda: config, settings=FAST)
    async with running(worker):
        await until(lambda: worker.delivered >= 40, what="40 responses")
    records = read_all(kafka, bus_topic(bus), 2)  # one event per survey and batch
    summaries: dict[str, dict[str, int]] = {}
    responses = 0
    for record in records:
        event = decode(record.value(), record.headers())
        assert event.type == "kbridge.function.result"
        assert event.source == f"kbridge/function/{name}"
        summary = event.data
        responses += summary["responses"]
        counts = summaries.setdefault(summary["survey_id"], {})
        for answer, count in summary["questions"]["q1"]["answers"].items():
            counts[answer] = counts.get(answer, 0) + count
    assert responses == 40
    assert summaries["s-2"] == {"yes": 10}  # i % 4 == 0 are all even: "yes"
    assert summaries["s-1"] == {"yes": 10, "no": 20}


async def test_http_function_in_binary_mode_and_its_result_published(
    kafka_bootstrap: str, unique: str
) -> None:
    def function(
        r: Receiver, h: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        assert h.headers["ce-specversion"] == "1.0" and h.headers["ce-type"] == "test.created"
        doubled = json.loads(body)["i"] * 2
        headers = {
            "ce-specversion": "1.0",
            "ce-id": "result-" + h.headers["ce-id"],
            "ce-source": "fn/double",
            "ce-type": "math.doubled",
            "Content-Type": "application/json",
        }
        return 200, headers, json.dumps({"doubled": doubled}).encode()

    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    name, bus = f"fn-{unique}", f"fnout-{unique}"
    make_topics(kafka, name)
    ensure_topics(kafka, [TopicSpec(bus_topic(bus), 1)])
    with receiver(function) as server:
        target = FunctionTarget(
            name=name, url=server.url + "/", publish_to_bus=bus, allow_private_network=True
        )
        config = StaticConfig(targets={name: target})
        produce(kafka, target_topic(name), 25)
        worker = SinkWorker(name, kafka=kafka, snapshot=lambda: config, settings=FAST)
        async with running(worker):
            await until(lambda: worker.delivered >= 25, what="25 invocations")
    events = [decode(r.value(), r.headers()) for r in read_all(kafka, bus_topic(bus), 25)]
    assert {e.id for e in events} == {f"result-evt-{i}" for i in range(25)}
    assert {e.data["doubled"] for e in events} == {2 * i for i in range(25)}
    assert {e.type for e in events} == {"math.doubled"}


async def test_kafka_target_forwards_key_value_and_headers(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka = KafkaClientConfig(bootstrap_servers=kafka_bootstrap)
    name, out = f"fwd-{unique}", f"archive.{unique}"
    make_topics(kafka, name)
    ensure_topics(kafka, [TopicSpec(out, 2)])
    # "another cluster": an explicit client config (here pointing at the same broker)
    other = KafkaClientConfig(bootstrap_servers=kafka_bootstrap, client_id="kbridge-forward")
    config = StaticConfig(
        targets={name: KafkaTarget(name=name, topic=out, cluster=other, allow_private_network=True)}
    )
    produce(kafka, target_topic(name), 120)
    worker = SinkWorker(name, kafka=kafka, snapshot=lambda: config, settings=FAST)
    async with running(worker):
        await until(lambda: worker.delivered >= 120, what="forwarded")
    records = read_all(kafka, out, 120)
    assert len(records) == 120
    by_id = {dict(r.headers())["ce_id"].decode(): r for r in records}
    assert set(by_id) == {f"evt-{i}" for i in range(120)}
    sample = by_id["evt-7"]
    assert sample.key() == b"k7" and orjson.loads(sample.value())["i"] == 7
    assert dict(sample.headers())["kbridge-rule"] == b"r1"
