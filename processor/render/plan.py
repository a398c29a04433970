"""The process groups a kbridge.yaml needs, independent of where they run.

One :class:`ProcessGroup` per long-running process kind: the gateway (HTTP ingress and every
webhook source), the router (one consumer group over every bus), one sink worker per target
(its own consumer group ``kbridge-sink-<target>``, scaled up to the egress topic's partition
count) and one process per polled source (MQTT, AMQP, NATS, Kafka, schedule). Both renderers
read only this plan, so Kubernetes and docker-compose never disagree on what runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from processor.config.model import KbridgeConfig
from processor.kafka.topics import target_topic

Component = Literal["gateway", "router", "sink", "source"]

GATEWAY_PORT = 8080
"""The gateway serves its API, /healthz, /readyz and /metrics on one port."""
HEALTH_PORT = 9100
"""Router, sink and source processes serve /healthz, /readyz, /metrics here
(``KBRIDGE_METRICS_PORT``, processor/observability/health.py)."""
ROUTER_GROUP = "kbridge-router"
POLLED_SOURCE_KINDS = frozenset({"mqtt", "amqp", "nats", "kafka", "schedule"})
"""Sources that run as their own process; every other kind is a webhook the gateway serves."""

_REFERENCE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class EnvReference:
    """A ``${NAME}`` or ``${NAME:-default}`` in kbridge.yaml: an input of every process."""

    name: str
    default: str | None

    @property
    def secret_key(self) -> str:
        """Its key in the Kubernetes Secret: ``SURVEY_DB_URL`` -> ``survey-db-url``."""
        return self.name.lower().replace("_", "-")


@dataclass(frozen=True)
class ProcessGroup:
    """One deployable unit: a command, the group it consumes with, how far it may scale."""

    name: str
    """Kubernetes Deployment ``kbridge-<name>`` and compose service ``<name>``."""
    component: Component
    args: tuple[str, ...]
    port: int
    consumer_group: str | None = None
    topic: str | None = None
    """The one topic the group's lag is measured on (None: every topic of the group)."""
    max_replicas: int = 1
    lag_threshold: int = 200
    cpu: str = "100m"
    memory: str = "128Mi"
    memory_limit: str = "512Mi"

    @property
    def scales_on_lag(self) -> bool:
        """Lag-scaled groups get a KEDA ScaledObject; the gateway scales on CPU, sources not."""
        return self.consumer_group is not None and self.component in ("router", "sink")


@dataclass(frozen=True)
class Plan:
    """Everything the renderers need from kbridge.yaml."""

    groups: tuple[ProcessGroup, ...]
    env: tuple[EnvReference, ...] = field(default=())

    def of(self, component: Component) -> list[ProcessGroup]:
        """The groups of one component, in configuration order."""
        return [g for g in self.groups if g.component == component]


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def env_references(text: str) -> tuple[EnvReference, ...]:
    """Every ``${VAR}`` in the file's values (not its comments), first occurrence wins, in
    file order; ``$${`` is a literal dollar."""
    seen: dict[str, EnvReference] = {}
    for value in _strings(yaml.safe_load(text)):
        for match in _REFERENCE.finditer(value):
            name = match.group(2)
            if not match.group(1) and name not in seen:
                seen[name] = EnvReference(name, match.group(3))
    return tuple(seen.values())


def build_plan(config: KbridgeConfig, text: str, router_engine: str = "faust") -> Plan:
    """The process groups of ``config``; ``text`` is the file's source (its ``${VAR}``s).

    ``router_engine`` is ``kbridge router --engine`` (faust, the default, or native).
    """
    router_args = ("router",) if router_engine == "faust" else ("router", "--engine", router_engine)
    bus_partitions = max((b.partitions for b in config.buses), default=1)
    groups = [
        ProcessGroup("gateway", "gateway", ("gateway", "--host", "0.0.0.0", "--port",
                     str(GATEWAY_PORT)), GATEWAY_PORT, max_replicas=10, cpu="250m",
                     memory="192Mi"),
        ProcessGroup("router", "router", router_args, HEALTH_PORT, consumer_group=ROUTER_GROUP,
                     max_replicas=bus_partitions, lag_threshold=1000, cpu="500m",
                     memory="256Mi", memory_limit="1Gi"),
    ]
    for target in config.targets:
        groups.append(ProcessGroup(
            f"sink-{target.name}", "sink", ("sink", target.name), HEALTH_PORT,
            consumer_group=f"kbridge-sink-{target.name}", topic=target_topic(target.name),
            max_replicas=target.partitions,
        ))
    for source in config.sources:
        if source.kind in POLLED_SOURCE_KINDS:
            groups.append(ProcessGroup(
                f"source-{source.name}", "source", ("source", source.name), HEALTH_PORT,
            ))
    return Plan(tuple(groups), env_references(text))
