"""Client config rendering for librdkafka and aiokafka, and topic naming."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from processor.kafka import KafkaClientConfig
from processor.kafka.topics import bus_dlq_topic, bus_topic, target_dlq_topic, target_topic


def test_secrets_masked_unless_asked() -> None:
    config = KafkaClientConfig(
        bootstrap_servers="a:1,b:2",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="u",
        sasl_password=SecretStr("hunter2"),
    )
    assert config.as_dict()["sasl.password"] == "**********"
    assert config.librdkafka()["sasl.password"] == "hunter2"
    assert "hunter2" not in repr(config)
    kwargs = config.aiokafka_kwargs()
    assert kwargs["bootstrap_servers"] == ["a:1", "b:2"]
    assert kwargs["sasl_plain_password"] == "hunter2"
    assert config.faust_broker_url() == "kafka://a:1;kafka://b:2"


def test_unknown_field_rejected() -> None:
    with pytest.raises(ValidationError, match="bootstrap"):
        KafkaClientConfig(bootstrap="x")  # type: ignore[call-arg]


def test_topic_names() -> None:
    assert bus_topic("saas") == "kbridge.bus.saas"
    assert bus_dlq_topic("saas") == "kbridge.bus.saas.dlq"
    assert target_topic("db") == "kbridge.target.db"
    assert target_dlq_topic("db") == "kbridge.dlq.db"
    with pytest.raises(ValueError, match="invalid bus name"):
        bus_topic("a.b")
