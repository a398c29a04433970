"""``kbridge apply`` / ``get`` and the ConfigStore against the real broker.

Each test uses its own rules topic (``--rules-topic``) and uniquely named buses and targets,
so it never touches the live ``kbridge.rules`` other processes read.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer as RdProducer
from confluent_kafka.admin import ConfigResource  # type: ignore[attr-defined]
from typer.testing import CliRunner

from processor.cli import build_app
from processor.config import Bus, Rule, RuleTarget
from processor.config.publish import delete_object, publish_object
from processor.config.store import ConfigChange, ConfigStore
from processor.kafka.admin import admin_client, delete_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.topics import bus_dlq_topic, bus_topic, target_dlq_topic, target_topic

pytestmark = pytest.mark.kafka

runner = CliRunner()

CONFIG = """
buses:
  - {{name: {bus}, partitions: 4, retention: {retention}}}
targets:
  - {{name: {target}, kind: webhook, url: "http://127.0.0.1:9/hook", partitions: 2,
     secret: "${{KBRIDGE_IT_HOOK_SECRET:-hook-secret}}", allow_private_network: true}}
rules:
  - name: {rule}
    bus: {bus}
    pattern: {{source: [saas.questionnaire]}}
    targets: [{{target: {target}, transform: {{path: "$.data"}}}}]
"""


@pytest.fixture
def kafka(kafka_bootstrap: str) -> KafkaClientConfig:
    return KafkaClientConfig(bootstrap_servers=kafka_bootstrap)


@pytest.fixture
def names(unique: str, kafka: KafkaClientConfig) -> Iterator[dict[str, str]]:
    """Unique object names and rules topic; every topic they imply is deleted afterwards."""
    names = {
        "bus": f"it-bus-{unique}",
        "target": f"it-hook-{unique}",
        "rule": f"it-rule-{unique}",
        "topic": f"test.rules.{unique}",
    }
    yield names
    delete_topics(
        kafka,
        [
            names["topic"],
            bus_topic(names["bus"]),
            bus_dlq_topic(names["bus"]),
            target_topic(names["target"]),
            target_dlq_topic(names["target"]),
        ],
    )


def write_config(tmp_path: Path, names: dict[str, str], *, retention: str = "2d") -> Path:
    path = tmp_path / "kbridge.yaml"
    path.write_text(CONFIG.format(retention=retention, **names))
    return path


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(build_app(), list(args))
    return result.exit_code, result.stdout, result.stderr


def test_apply_get_and_prune(
    tmp_path: Path, names: dict[str, str], kafka_bootstrap: str, kafka: KafkaClientConfig
) -> None:
    common = ["-b", kafka_bootstrap, "--rules-topic", names["topic"]]
    path = write_config(tmp_path, names)

    code, out, err = cli("apply", "-f", str(path), "--dry-run", *common)
    assert code == 0, err
    assert f"+ rule/{names['rule']} created" in out
    assert "dry run: nothing was published" in out
    code, out, err = cli("get", "rules", "-o", "json", *common)
    assert (code, json.loads(out)) == (0, {"rules": []}), err
    # Neither a dry run nor a read creates the config topic.
    assert names["topic"] not in admin_client(kafka).list_topics(timeout=10).topics

    code, out, err = cli("apply", "-f", str(path), *common)
    assert code == 0, err
    assert out.splitlines()[:4] == [
        f"+ bus/{names['bus']} created",
        f"+ target/{names['target']} created",
        f"+ rule/{names['rule']} created",
        "3 created, 0 updated, 0 deleted, 0 unchanged",
    ]
    assert f"created topic {bus_topic(names['bus'])}" in out

    code, out, err = cli("get", "rules", "-o", "json", *common)
    assert code == 0, err
    [rule] = json.loads(out)["rules"]
    assert (rule["name"], rule["bus"]) == (names["rule"], names["bus"])
    assert rule["targets"][0]["transform"] == {"path": "$.data"}
    code, out, err = cli("get", "targets", "-o", "json", *common)
    [target] = json.loads(out)["targets"]
    assert target["secret"] == "**********"  # masked when listed, plain only in the topic
    code, out, err = cli("get", "buses", *common)
    assert code == 0, err
    assert names["bus"] in out and "2d" in out
    code, out, _ = cli("get", "rules", *common)
    assert names["rule"] in out and " ok" in out
    code, out, err = cli("get", "rule", names["rule"], "-o", "yaml", *common)
    assert code == 0, err
    assert out.startswith(f"rules:\n- name: {names['rule']}\n")
    code, out, err = cli("get", "rules", "no-such-rule", *common)
    assert (code, err) == (1, "error: rule 'no-such-rule' is not live\n")

    code, out, err = cli("apply", "-f", str(path), *common)
    assert code == 0, err
    assert out.splitlines() == ["0 created, 0 updated, 0 deleted, 3 unchanged"]

    pruned = tmp_path / "pruned.yaml"
    pruned.write_text(f"buses: [{{name: {names['bus']}, partitions: 4, retention: 2d}}]\n")
    code, out, err = cli("apply", "-f", str(pruned), *common)
    assert code == 0, err
    assert "0 deleted" in out  # without --prune nothing is removed
    code, out, err = cli("apply", "-f", str(pruned), "--prune", *common)
    assert code == 0, err
    assert out.splitlines() == [
        f"- rule/{names['rule']} deleted",
        f"- target/{names['target']} deleted",
        "0 created, 0 updated, 2 deleted, 1 unchanged",
    ]
    code, out, _ = cli("get", "rules", "-o", "json", *common)
    assert json.loads(out) == {"rules": []}
    code, out, _ = cli("get", "buses", "-o", "yaml", *common)
    assert f"name: {names['bus']}" in out


def test_topics_are_created_idempotently_with_bus_settings(
    tmp_path: Path, names: dict[str, str], kafka_bootstrap: str, kafka: KafkaClientConfig
) -> None:
    common = ["-b", kafka_bootstrap, "--rules-topic", names["topic"]]
    path = write_config(tmp_path, names, retention="2d")
    code, out, err = cli("apply", "-f", str(path), *common)
    assert code == 0, err
    expected = {
        bus_topic(names["bus"]): 4,
        bus_dlq_topic(names["bus"]): 4,
        target_topic(names["target"]): 2,
        target_dlq_topic(names["target"]): 2,
    }
    for topic in expected:
        assert f"created topic {topic}" in out
    admin = admin_client(kafka)
    topics = admin.list_topics(timeout=10).topics
    assert {name: len(topics[name].partitions) for name in expected} == expected
    assert retention_ms(kafka, bus_topic(names["bus"])) == str(2 * 86400 * 1000)

    code, out, err = cli("apply", "-f", str(path), *common)
    assert code == 0, err
    assert "created topic" not in out

    # A changed archive window reaches the existing ingress topic.
    code, out, err = cli("apply", "-f", str(write_config(tmp_path, names, retention="3d")), *common)
    assert code == 0, err
    assert f"~ bus/{names['bus']} updated" in out
    assert retention_ms(kafka, bus_topic(names["bus"])) == str(3 * 86400 * 1000)


def retention_ms(kafka: KafkaClientConfig, topic: str) -> str:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = admin_client(kafka)  # must outlive its futures
    [future] = admin.describe_configs([resource]).values()
    return str(future.result(10)["retention.ms"].value)


def test_store_sees_a_change_within_a_second(
    names: dict[str, str], kafka: KafkaClientConfig
) -> None:
    topic = names["topic"]
    bus = Bus(name=names["bus"])
    publish_object(kafka, bus, topic=topic)
    store = ConfigStore(kafka, topic=topic)
    store.start()
    try:
        assert store.wait_until_caught_up(20)
        assert store.snapshot().buses == (bus,)
        changed = threading.Event()
        changes: list[ConfigChange] = []

        def on_change(change: ConfigChange) -> None:
            changes.append(change)
            changed.set()

        store.subscribe(on_change)
        rule = Rule(
            name=names["rule"],
            bus=bus.name,
            pattern={"source": ["a"]},
            targets=[RuleTarget(target=names["target"])],
        )
        started = time.monotonic()
        publish_object(kafka, rule, topic=topic)
        assert changed.wait(5)
        assert time.monotonic() - started < 1.0
        assert changes == [ConfigChange("rule", rule.name, None, rule)]
        # The target never arrived: the snapshot holds a dangling reference, readers cope.
        assert store.snapshot().rule(rule.name) == rule
        assert store.snapshot().target(names["target"]) is None

        changed.clear()
        delete_object(kafka, "rule", rule.name, topic=topic)
        assert changed.wait(5)
        assert changes[-1] == ConfigChange("rule", rule.name, rule, None)
        assert store.snapshot().rules == ()
    finally:
        store.stop()


def test_store_skips_foreign_and_invalid_records(
    names: dict[str, str], kafka: KafkaClientConfig
) -> None:
    topic = names["topic"]
    publish_object(kafka, Bus(name=names["bus"]), topic=topic)
    raw = RdProducer(kafka.librdkafka())
    raw.produce(topic, key=b"widget/x", value=b"{}")
    raw.produce(topic, key=f"rule/{names['rule']}".encode(), value=b"not json")
    raw.produce(topic, key=b"bus/other-" + names["bus"].encode(), value=b'{"name": 1}')
    assert raw.flush(10) == 0
    later = Bus(name=f"later-{names['bus']}"[:200])
    publish_object(kafka, later, topic=topic)
    with ConfigStore(kafka, topic=topic) as store:
        assert store.wait_until_caught_up(20)
        snapshot = store.snapshot()
    assert [bus.name for bus in snapshot.buses] == [names["bus"], later.name]
    assert snapshot.rules == ()


def test_store_replays_many_objects_quickly(
    names: dict[str, str], kafka: KafkaClientConfig
) -> None:
    from processor.config.publish import publish_records
    from processor.config.records import encode_object

    rules = [
        Rule(name=f"r{index}", bus=names["bus"], pattern={"source": [f"s{index}"]})
        for index in range(1000)
    ]
    publish_records(
        kafka,
        [(f"rule/{rule.name}", encode_object(rule)) for rule in rules],
        topic=names["topic"],
    )
    started = time.monotonic()
    with ConfigStore(kafka, topic=names["topic"]) as store:
        assert store.wait_until_caught_up(30)
        assert len(store.snapshot().rules) == 1000
    assert time.monotonic() - started < 10
