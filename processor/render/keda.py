"""KEDA ScaledObjects on consumer lag, with a TriggerAuthentication for secured clusters.

Router and sink workers scale between one replica and their topic's partition count (more
consumers than partitions would sit idle). For a SASL and/or TLS cluster the Kafka scaler
reads its credentials from the same Secret the processes use, through a TriggerAuthentication
(https://keda.sh/docs/latest/scalers/apache-kafka/: ``sasl``/``tls`` in the trigger's
metadata, ``username``/``password``/``ca`` as authentication parameters).
"""

from __future__ import annotations

from typing import Any

from processor.render.plan import Plan

TRIGGER_AUTH = "kbridge-kafka"
_KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256",
              "SCRAM-SHA-512": "scram_sha512", "OAUTHBEARER": "oauthbearer"}


def keda_sasl(mechanism: str) -> str:
    """librdkafka's mechanism name -> KEDA's (``SCRAM-SHA-512`` -> ``scram_sha512``)."""
    try:
        return _KEDA_SASL[mechanism.upper()]
    except KeyError:
        known = ", ".join(_KEDA_SASL)
        raise ValueError(f"SASL mechanism {mechanism!r} is not one of {known}") from None


def trigger_authentication(kafka_auth: str, secret: str) -> dict[str, Any]:
    """The credentials KEDA's Kafka scaler takes from ``secret``."""
    refs = []
    if kafka_auth in ("sasl", "sasl-tls"):
        refs += [{"parameter": "username", "name": secret, "key": "kafka-sasl-username"},
                 {"parameter": "password", "name": secret, "key": "kafka-sasl-password"}]
    if kafka_auth in ("tls", "sasl-tls"):
        refs.append({"parameter": "ca", "name": secret, "key": "kafka-ca.crt"})
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
            "metadata": {"name": TRIGGER_AUTH, "labels": {"app.kubernetes.io/name": "kbridge"}},
            "spec": {"secretTargetRef": refs}}


def documents(
    plan: Plan, bootstrap_servers: str, kafka_auth: str, sasl_mechanism: str, secret: str
) -> list[dict[str, Any]]:
    """A TriggerAuthentication when the cluster is secured, one ScaledObject per lag group."""
    docs: list[dict[str, Any]] = []
    if kafka_auth != "none":
        docs.append(trigger_authentication(kafka_auth, secret))
    for group in plan.groups:
        if not group.scales_on_lag or group.consumer_group is None:
            continue
        meta = {"bootstrapServers": bootstrap_servers, "consumerGroup": group.consumer_group,
                "lagThreshold": str(group.lag_threshold), "offsetResetPolicy": "earliest"}
        if group.topic:
            meta["topic"] = group.topic
        if kafka_auth in ("sasl", "sasl-tls"):
            meta["sasl"] = keda_sasl(sasl_mechanism)
        if kafka_auth in ("tls", "sasl-tls"):
            meta["tls"] = "enable"
        trigger: dict[str, Any] = {"type": "kafka", "metadata": meta}
        if kafka_auth != "none":
            trigger["authenticationRef"] = {"name": TRIGGER_AUTH}
        name = f"kbridge-{group.name}"
        docs.append({
            "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "kbridge"}},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": name},
                     "minReplicaCount": 1, "maxReplicaCount": group.max_replicas,
                     "pollingInterval": 15, "cooldownPeriod": 300, "triggers": [trigger]},
        })
    return docs
