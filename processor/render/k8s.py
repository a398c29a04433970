"""Kubernetes manifests for a :class:`~processor.render.plan.Plan` (``kbridge render k8s``).

One Deployment per process group with probes on ``/healthz`` (liveness) and ``/readyz``
(readiness), resource requests and a PodDisruptionBudget; the gateway behind a Service with a
CPU HorizontalPodAutoscaler; router and sinks scaled by KEDA on their consumer group's lag
(``keda.py``); Prometheus alert rules (``alerts.py``); the apply Job publishing kbridge.yaml.
Secrets are referenced from one Secret, ``kbridge-secrets``, created out of band, never
rendered.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processor.render import alerts, keda
from processor.render.plan import HEALTH_PORT, Plan, ProcessGroup
from processor.render.yamltext import dump, dump_all

SECRET = "kbridge-secrets"
CONFIG_MAP = "kbridge-config"
ENV_MAP = "kbridge-env"
CONFIG_DIR = "/etc/kbridge"
KAFKA_CA_DIR = "/etc/kbridge-kafka"
PROTOCOLS = {"none": "PLAINTEXT", "sasl": "SASL_PLAINTEXT", "tls": "SSL", "sasl-tls": "SASL_SSL"}
"""``--kafka-auth`` -> ``KBRIDGE_KAFKA__SECURITY_PROTOCOL``."""


@dataclass(frozen=True)
class K8sOptions:
    """What kbridge.yaml does not say about the cluster."""

    namespace: str = "kbridge"
    image: str = "kbridge:0.1.0"
    bootstrap_servers: str = "kafka-bootstrap.kafka.svc:9092"
    kafka_auth: str = "none"
    """none, sasl, tls or sasl-tls: the processes' security protocol and KEDA's credentials."""
    sasl_mechanism: str = "SCRAM-SHA-512"
    replication_factor: int = 3

    @property
    def sasl(self) -> bool:
        return self.kafka_auth in ("sasl", "sasl-tls")

    @property
    def tls(self) -> bool:
        return self.kafka_auth in ("tls", "sasl-tls")


def _labels(component: str, instance: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "kbridge", "app.kubernetes.io/component": component,
            "app.kubernetes.io/instance": instance}


def _secret_env(name: str, key: str, optional: bool) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": key,
                                                          "optional": optional}}}


def env_literals(opts: K8sOptions) -> list[str]:
    """The ``kbridge-env`` ConfigMap: process settings every container reads."""
    literals = [
        f"KBRIDGE_KAFKA__BOOTSTRAP_SERVERS={opts.bootstrap_servers}",
        "KBRIDGE_LOG_LEVEL=INFO",
        "KBRIDGE_LOG_FORMAT=json",
        f"KBRIDGE_METRICS_PORT={HEALTH_PORT}",
        "KBRIDGE_METRICS_HOST=0.0.0.0",
        f"KBRIDGE_REPLICATION_FACTOR={opts.replication_factor}",
        f"KBRIDGE_KAFKA__SECURITY_PROTOCOL={PROTOCOLS[opts.kafka_auth]}",
    ]
    if opts.sasl:
        literals.append(f"KBRIDGE_KAFKA__SASL_MECHANISM={opts.sasl_mechanism}")
    if opts.tls:
        literals.append(f"KBRIDGE_KAFKA__SSL_CAFILE={KAFKA_CA_DIR}/kafka-ca.crt")
    return literals


def _env(plan: Plan, opts: K8sOptions) -> list[dict[str, Any]]:
    """kbridge.yaml's ``${VAR}``s from the Secret (optional where the file has a default)."""
    env = [_secret_env(ref.name, ref.secret_key, ref.default is not None) for ref in plan.env]
    if opts.sasl:
        env.append(_secret_env("KBRIDGE_KAFKA__SASL_USERNAME", "kafka-sasl-username", False))
        env.append(_secret_env("KBRIDGE_KAFKA__SASL_PASSWORD", "kafka-sasl-password", False))
    return env


def _mounts_and_volumes(opts: K8sOptions, scratch: bool) -> tuple[list[Any], list[Any]]:
    mounts: list[Any] = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}]
    volumes: list[Any] = [{"name": "config", "configMap": {"name": CONFIG_MAP}}]
    if opts.tls:
        mounts.append({"name": "kafka-ca", "mountPath": KAFKA_CA_DIR, "readOnly": True})
        volumes.append({"name": "kafka-ca", "secret": {
            "secretName": SECRET, "items": [{"key": "kafka-ca.crt", "path": "kafka-ca.crt"}]}})
    if scratch:
        for name, path in (("tmp", "/tmp"), ("home", "/home/kbridge")):
            mounts.append({"name": name, "mountPath": path})
            volumes.append({"name": name, "emptyDir": {}})
    return mounts, volumes


_CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                       "capabilities": {"drop": ["ALL"]}}
_POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                 "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}}


def _probe(path: str, failures: int, delay: int = 0) -> dict[str, Any]:
    probe: dict[str, Any] = {"httpGet": {"path": path, "port": "http"}, "periodSeconds": 10,
                             "timeoutSeconds": 3, "failureThreshold": failures}
    if delay:
        probe["initialDelaySeconds"] = delay
    return probe


def deployment(group: ProcessGroup, plan: Plan, opts: K8sOptions) -> dict[str, Any]:
    """The group's Deployment: probes, requests, non-root, read-only root filesystem."""
    name = f"kbridge-{group.name}"
    env = _env(plan, opts)
    if group.component == "gateway":
        env = [
            # one worker per pod (the HPA adds pods); the default counts the node's cores
            {"name": "KBRIDGE_GATEWAY__WORKERS", "value": "1"},
            # the management API changes routing: in a cluster, API keys are always enforced
            {"name": "KBRIDGE_GATEWAY__AUTH_ENABLED", "value": "true"},
            _secret_env("KBRIDGE_GATEWAY__ADMIN_API_KEY", "gateway-admin-key", False),
            *env,
        ]
    mounts, volumes = _mounts_and_volumes(opts, scratch=True)
    container = {
        "name": group.component,
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        "args": list(group.args),
        "envFrom": [{"configMapRef": {"name": ENV_MAP}}],
        "env": env,
        "volumeMounts": mounts,
        "securityContext": _CONTAINER_SECURITY,
        "resources": {"requests": {"cpu": group.cpu, "memory": group.memory},
                      "limits": {"memory": group.memory_limit}},
        "ports": [{"name": "http", "containerPort": group.port}],
        "readinessProbe": _probe("/readyz", 3),
        "livenessProbe": _probe("/healthz", 6, delay=10),
    }
    spec: dict[str, Any] = {}
    if not group.scales_on_lag and group.component != "gateway":
        spec["replicas"] = 1  # a source runs once: a second copy would publish twice
    spec["selector"] = {"matchLabels": {"app.kubernetes.io/instance": name}}
    spec["template"] = {
        "metadata": {
            "labels": _labels(group.component, name),
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(group.port),
                            "prometheus.io/path": "/metrics"},
        },
        "spec": {"securityContext": _POD_SECURITY, "terminationGracePeriodSeconds": 30,
                 "containers": [container], "volumes": volumes},
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": _labels(group.component, name)}, "spec": spec}


def disruption_budget(group: ProcessGroup) -> dict[str, Any]:
    """At most one pod of a group evicted at a time (a drain never stops a whole group)."""
    name = f"kbridge-{group.name}"
    budget: dict[str, Any] = {"maxUnavailable": 1}
    if group.component == "gateway":
        budget = {"minAvailable": 1}
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "labels": _labels(group.component, name)},
            "spec": {**budget, "selector": {"matchLabels": {"app.kubernetes.io/instance": name}}}}


def gateway_extras(group: ProcessGroup) -> list[dict[str, Any]]:
    """The gateway's Service and CPU autoscaler (it holds no consumer group to scale on)."""
    name = f"kbridge-{group.name}"
    selector = {"app.kubernetes.io/instance": name}
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "labels": _labels("gateway", name)},
               "spec": {"selector": selector,
                        "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": name, "labels": _labels("gateway", name)},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": name},
                    "minReplicas": 2, "maxReplicas": group.max_replicas,
                    "metrics": [{"type": "Resource", "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70}}}]}}
    return [service, hpa]


def apply_job(plan: Plan, opts: K8sOptions) -> dict[str, Any]:
    """Publishes kbridge.yaml to kbridge.rules and creates the topics (workers follow live)."""
    mounts, volumes = _mounts_and_volumes(opts, scratch=False)
    container = {
        "name": "apply", "image": opts.image, "args": ["apply", "-f", f"{CONFIG_DIR}/kbridge.yaml"],
        "envFrom": [{"configMapRef": {"name": ENV_MAP}}], "env": _env(plan, opts),
        "volumeMounts": mounts, "securityContext": _CONTAINER_SECURITY,
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                      "limits": {"memory": "256Mi"}},
    }
    labels = {"app.kubernetes.io/name": "kbridge", "app.kubernetes.io/component": "apply"}
    pod_security = {k: v for k, v in _POD_SECURITY.items() if k != "fsGroup"}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "kbridge-apply", "labels": dict(labels)},
            "spec": {"backoffLimit": 10, "ttlSecondsAfterFinished": 86400,
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"restartPolicy": "OnFailure",
                                           "securityContext": pod_security,
                                           "containers": [container], "volumes": volumes}}}}


def namespace(opts: K8sOptions) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": opts.namespace,
                         "labels": {"app.kubernetes.io/name": "kbridge",
                                    "pod-security.kubernetes.io/enforce": "restricted"}}}


def _workloads(plan: Plan, opts: K8sOptions, component: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for group in plan.groups:
        if group.component != component:
            continue
        docs += [deployment(group, plan, opts), disruption_budget(group)]
        if component == "gateway":
            docs += gateway_extras(group)
    return docs


FILE_HEADERS = {
    "namespace.yaml": "",
    "apply-job.yaml": "# Publishes kbridge.yaml to kbridge.rules and creates the topics. Jobs are "
                      "immutable:\n# delete the finished job before re-applying a changed "
                      "kbridge.yaml.\n",
    "gateway.yaml": "# The gateway: HTTP ingress (PutEvents, CloudEvents, webhooks, management "
                    "API), scaled on CPU.\n",
    "router.yaml": "# The router: one consumer group over every bus; replicas from KEDA "
                   "(keda.yaml).\n",
    "sinks.yaml": "# One sink worker Deployment per target (group kbridge-sink-<target>); "
                  "replicas from KEDA.\n",
    "sources.yaml": "# Polled sources (MQTT, AMQP, NATS, Kafka, schedules): one Deployment "
                    "each, one replica.\n",
    "keda.yaml": "# KEDA: router and sinks scale on consumer lag, up to their topic's "
                 "partition count.\n",
    "alerts.yaml": "# Prometheus Operator alert rules on the metrics kbridge and kafka-exporter "
                   "export.\n",
}


def documents(plan: Plan, opts: K8sOptions) -> dict[str, list[dict[str, Any]]]:
    """Every resource, per file of the Kustomize base (ConfigMaps aside)."""
    return {
        "namespace.yaml": [namespace(opts)],
        "apply-job.yaml": [apply_job(plan, opts)],
        "gateway.yaml": _workloads(plan, opts, "gateway"),
        "router.yaml": _workloads(plan, opts, "router"),
        "sinks.yaml": _workloads(plan, opts, "sink"),
        "sources.yaml": _workloads(plan, opts, "source"),
        "keda.yaml": keda.documents(plan, opts.bootstrap_servers, opts.kafka_auth,
                                    opts.sasl_mechanism, SECRET),
        "alerts.yaml": [alerts.prometheus_rule(plan)],
    }


def _secret_help(plan: Plan, opts: K8sOptions) -> str:
    keys = ["gateway-admin-key"] + [r.secret_key for r in plan.env if r.default is None]
    optional = [r.secret_key for r in plan.env if r.default is not None]
    if opts.sasl:
        keys += ["kafka-sasl-username", "kafka-sasl-password"]
    if opts.tls:
        keys.append("kafka-ca.crt")
    lines = [
        "# Rendered by `kbridge render k8s` from kbridge.yaml; do not edit, re-render.",
        "#   kubectl apply -k .",
        "# Create the Secret first (never committed):",
        f"#   kubectl -n {opts.namespace} create secret generic {SECRET} \\",
    ]
    flags = [f"--from-file={k}=PATH" if k.endswith(".crt") else f"--from-literal={k}=..."
             for k in keys]
    literals = textwrap.wrap(" ".join(flags), 94,
                             initial_indent="#     ", subsequent_indent="#     ",
                             break_on_hyphens=False)
    lines += [line + " \\" for line in literals[:-1]] + literals[-1:]
    if optional:
        lines += textwrap.wrap("Optional keys (kbridge.yaml has a default): " + ", ".join(optional),
                               96, initial_indent="# ", subsequent_indent="#   ",
                               break_on_hyphens=False)
    return "\n".join(lines) + "\n"


def kustomization(plan: Plan, opts: K8sOptions, files: list[str]) -> str:
    """The base's kustomization.yaml: the files, kbridge.yaml and the env ConfigMap."""
    data = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": opts.namespace,
        "labels": [{"pairs": {"app.kubernetes.io/part-of": "kbridge"}}],
        "resources": files,
        "configMapGenerator": [
            {"name": CONFIG_MAP, "files": ["kbridge.yaml"]},
            {"name": ENV_MAP, "literals": env_literals(opts)},
        ],
    }
    return _secret_help(plan, opts) + dump(data)


def render_files(plan: Plan, opts: K8sOptions, config_text: str) -> dict[str, str]:
    """The Kustomize base: file name -> content (``--output-dir``)."""
    docs = {name: d for name, d in documents(plan, opts).items() if d}
    files = {name: dump_all(d, FILE_HEADERS[name]) for name, d in docs.items()}
    files["kustomization.yaml"] = kustomization(plan, opts, list(docs))
    files["kbridge.yaml"] = config_text
    return files


def configmaps(opts: K8sOptions, config_text: str) -> list[dict[str, Any]]:
    """The two ConfigMaps as plain resources (stdout has no configMapGenerator)."""
    env = dict(literal.split("=", 1) for literal in env_literals(opts))
    return [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": CONFIG_MAP, "namespace": opts.namespace},
         "data": {"kbridge.yaml": config_text}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": ENV_MAP, "namespace": opts.namespace}, "data": env},
    ]


def render_stream(plan: Plan, opts: K8sOptions, config_text: str) -> str:
    """Every resource as one YAML stream, namespaced and labelled (``kubectl apply -f -``)."""
    out: list[dict[str, Any]] = []
    ordered = documents(plan, opts)
    first = ordered.pop("namespace.yaml")
    for docs in [first, configmaps(opts, config_text), *ordered.values()]:
        for doc in docs:
            meta = doc["metadata"]
            if doc["kind"] != "Namespace":
                meta["namespace"] = opts.namespace
            meta["labels"] = {**meta.get("labels", {}), "app.kubernetes.io/part-of": "kbridge"}
            out.append(doc)
    return dump_all(out)


def stale_files(directory: Path, rendered: dict[str, str]) -> list[str]:
    """Files an earlier render wrote into ``directory`` that this one no longer produces.

    Only files that still start with their rendered header are named, so a file someone else
    put there under the same name is left alone.
    """
    return sorted(
        name for name, header in FILE_HEADERS.items()
        if header and name not in rendered and (directory / name).is_file()
        and (directory / name).read_text(encoding="utf-8").startswith(header)
    )
