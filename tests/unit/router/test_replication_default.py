"""Topic replication follows the broker unless KBRIDGE_REPLICATION_FACTOR says otherwise.

Issue 21 item 7: `kbridge apply` used to create every topic with replication factor 1,
overriding a 3-node cluster's ``default.replication.factor`` of 3. ``None`` in a
:class:`TopicSpec` becomes -1 in CreateTopics, which Kafka reads as "the broker's
default" (KIP-464, https://cwiki.apache.org/confluence/display/KAFKA/KIP-464).
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from processor.config.loader import parse_config
from processor.config.provision import rules_topic_spec, topic_specs
from processor.settings import Settings

CONFIG = """
buses: [{name: orders, partitions: 3}]
targets: [{name: audit, kind: kafka, topic: audit}]
"""


def test_unset_means_the_brokers_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KBRIDGE_REPLICATION_FACTOR", raising=False)
    settings = Settings()
    assert settings.replication_factor is None
    specs = topic_specs(parse_config(CONFIG), settings.replication_factor)
    assert len(specs) == 4
    assert all(spec.replication_factor is None for spec in specs)
    assert rules_topic_spec(settings.replication_factor).replication_factor is None


def test_the_environment_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBRIDGE_REPLICATION_FACTOR", "3")
    settings = Settings()
    assert settings.replication_factor == 3
    specs = topic_specs(parse_config(CONFIG), settings.replication_factor)
    assert {spec.replication_factor for spec in specs} == {3}


@pytest.mark.parametrize("text", ["0", "-1", "three"])
def test_a_bad_value_is_refused(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("KBRIDGE_REPLICATION_FACTOR", text)
    with pytest.raises(ValidationError, match="replication_factor"):
        Settings()
