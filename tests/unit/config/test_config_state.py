"""The live state behind ConfigStore, and apply plans, without a broker."""

from __future__ import annotations

import threading

import pytest

from processor.config import Bus, KbridgeConfig, Rule, RuleTarget, parse_config
from processor.config.publish import plan_apply
from processor.config.records import encode_object
from processor.config.store import ConfigChange, ConfigState, ConfigStore
from processor.config.targets import WebhookTarget
from processor.kafka.config import KafkaClientConfig

BUS = Bus(name="saas")
TARGET = WebhookTarget(name="hook", url="http://127.0.0.1:9/x", allow_private_network=True)
RULE = Rule(name="r", bus="saas", pattern={"source": ["a"]}, targets=[RuleTarget(target="hook")])


def test_records_create_update_and_delete() -> None:
    state = ConfigState()
    created = state.apply(b"bus/saas", encode_object(BUS))
    assert created == ConfigChange("bus", "saas", None, BUS)
    bigger = Bus(name="saas", partitions=12)
    assert state.apply(b"bus/saas", encode_object(bigger)) == ConfigChange(
        "bus", "saas", BUS, bigger
    )
    assert state.snapshot().buses == (bigger,)
    assert state.apply(b"bus/saas", None) == ConfigChange("bus", "saas", bigger, None)
    assert state.snapshot().buses == ()


def test_repeats_and_unknown_tombstones_change_nothing() -> None:
    state = ConfigState()
    state.apply(b"bus/saas", encode_object(BUS))
    before = state.snapshot()
    assert state.apply(b"bus/saas", encode_object(BUS)) is None
    assert state.apply(b"rule/ghost", None) is None
    assert state.snapshot() is before  # cached until something changes


def test_a_rule_may_arrive_before_its_bus_and_target() -> None:
    state = ConfigState()
    state.apply(b"rule/r", encode_object(RULE))
    snapshot = state.snapshot()
    assert snapshot.rules == (RULE,)
    assert snapshot.bus("saas") is None and snapshot.target("hook") is None
    state.apply(b"target/hook", encode_object(TARGET))
    state.apply(b"bus/saas", encode_object(BUS))
    assert state.snapshot().counts() == {
        "buses": 1,
        "connections": 0,
        "targets": 1,
        "sources": 0,
        "rules": 1,
    }


def test_invalid_records_raise_value_error_and_leave_state_alone() -> None:
    state = ConfigState()
    state.apply(b"bus/saas", encode_object(BUS))
    with pytest.raises(ValueError):
        state.apply(b"bus/saas", b"not json")
    with pytest.raises(ValueError, match="holds an object named 'saas'"):
        state.apply(b"bus/other", encode_object(BUS))
    assert state.snapshot().buses == (BUS,)


def test_store_notifies_subscribers_and_survives_a_failing_callback() -> None:
    store = ConfigStore(KafkaClientConfig(), topic="unused")
    seen: list[ConfigChange] = []

    def broken(change: ConfigChange) -> None:
        raise RuntimeError("subscriber bug")

    store.subscribe(broken)
    unsubscribe = store.subscribe(seen.append)
    store.apply_record(b"bus/saas", encode_object(BUS))
    assert seen == [ConfigChange("bus", "saas", None, BUS)]
    assert store.snapshot().buses == (BUS,)
    unsubscribe()
    store.apply_record(b"bus/saas", None)
    assert len(seen) == 1
    assert not store.caught_up


def test_snapshots_are_safe_to_read_from_other_threads() -> None:
    store = ConfigStore(KafkaClientConfig(), topic="unused")
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(300):
                snapshot = store.snapshot()
                assert all(rule.name.startswith("r") for rule in snapshot.rules)
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for index in range(300):
        rule = Rule(name=f"r{index}", bus="saas", pattern={})
        store.apply_record(f"rule/r{index}".encode(), encode_object(rule))
    reader.join()
    assert errors == []
    assert len(store.snapshot().rules) == 300


class TestPlan:
    DESIRED = """
buses: [{name: saas}]
targets: [{name: hook, kind: webhook, url: "http://127.0.0.1:9/x", allow_private_network: true}]
rules:
  - {name: r, bus: saas, pattern: {source: [a]}, targets: [{target: hook}]}
"""

    def test_first_apply_creates_in_dependency_order(self) -> None:
        plan = plan_apply(parse_config(self.DESIRED, env={}), KbridgeConfig())
        assert plan.created == (("bus", "saas"), ("target", "hook"), ("rule", "r"))
        assert [key for key, _ in plan.records] == ["bus/saas", "target/hook", "rule/r"]
        assert plan.changed

    def test_applying_the_same_config_changes_nothing(self) -> None:
        config = parse_config(self.DESIRED, env={})
        plan = plan_apply(config, config, prune=True)
        assert not plan.changed
        assert len(plan.unchanged) == 3

    def test_updates_and_pruning(self) -> None:
        live = parse_config(
            self.DESIRED + "  - {name: old, bus: saas, pattern: {source: [x]}}\n"
            "sources: [{name: gh, kind: github, bus: saas, secret: s}]\n",
            env={},
        )
        desired = parse_config(self.DESIRED.replace("source: [a]", "source: [b]"), env={})
        without_prune = plan_apply(desired, live)
        assert without_prune.updated == (("rule", "r"),)
        assert without_prune.deleted == ()
        plan = plan_apply(desired, live, prune=True)
        assert plan.deleted == (("rule", "old"), ("source", "gh"))
        assert plan.records[-2:] == (("rule/old", None), ("source/gh", None))

    def test_secret_changes_are_updates(self) -> None:
        live = parse_config(
            "buses: [{name: b}]\nsources: [{name: gh, kind: github, bus: b, secret: one}]",
            env={},
        )
        desired = parse_config(
            "buses: [{name: b}]\nsources: [{name: gh, kind: github, bus: b, secret: two}]",
            env={},
        )
        assert plan_apply(desired, live).updated == (("source", "gh"),)


def test_a_replay_after_reconnect_forgets_objects_it_no_longer_contains() -> None:
    from processor.config.store import _Replay

    store = ConfigStore(KafkaClientConfig(), topic="unused")
    store.apply_record(b"bus/saas", encode_object(BUS))
    store.apply_record(b"target/hook", encode_object(TARGET))
    seen: list[ConfigChange] = []
    store.subscribe(seen.append)
    # The topic, read again from the start, only holds the bus now (the target's record and
    # its tombstone were compacted away while the store was disconnected).
    store._replayed(_Replay(pending=set(), seen={("bus", "saas")}))
    assert seen == [ConfigChange("target", "hook", TARGET, None)]
    assert store.snapshot().buses == (BUS,) and store.snapshot().targets == ()
    assert store.caught_up
