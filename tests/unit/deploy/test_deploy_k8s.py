"""deploy/k8s: every manifest valid for Kubernetes (kubernetes-validate, strict), KEDA
ScaledObjects well formed, the kustomization complete, secrets referenced and never inlined."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_helpers import EXAMPLE, ROOT, example_config, example_targets

from processor.config.targets import TargetBase
from processor.kafka.topics import target_topic

K8S = ROOT / "deploy" / "k8s"
# oldest and newest Kubernetes minor the manifests are checked against
VERSIONS = ["1.28.0", kubernetes_validate.latest_version()]
# custom resources (KEDA, Prometheus Operator): no schema in kubernetes-validate, checked below
CRD_GROUPS = ("keda.sh/", "monitoring.coreos.com/")


def kustomization() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return data


def resources() -> list[dict[str, Any]]:
    docs = []
    for name in kustomization()["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def generated_configmaps() -> list[dict[str, Any]]:
    """What kustomize's configMapGenerator makes (without the name hash)."""
    out = []
    for gen in kustomization()["configMapGenerator"]:
        data: dict[str, str] = {}
        for entry in gen.get("files", []):
            key, _, path = entry.rpartition("=")
            data[key or Path(path).name] = (K8S / path).read_text()
        for literal in gen.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]},
                    "data": data})
    return out


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in resources() if d["kind"] == kind]


def test_kustomization_lists_every_manifest() -> None:
    k = kustomization()
    listed = set(k["resources"])
    generated = {f.rpartition("=")[2] for g in k["configMapGenerator"] for f in g.get("files", [])}
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk == listed | generated
    assert k["namespace"] == "kbridge"


def test_configmap_is_the_example_config() -> None:
    assert (K8S / "kbridge.yaml").read_text() == EXAMPLE.read_text(), (
        "deploy/k8s/kbridge.yaml must be a copy of examples/kbridge.yaml"
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_every_builtin_manifest_validates(version: str) -> None:
    docs = [d for d in resources() if not d["apiVersion"].startswith(CRD_GROUPS)]
    docs += generated_configmaps()
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} (k8s {version}): {exc.message}")


def test_workloads() -> None:
    deployments = {d["metadata"]["name"]: d for d in by_kind("Deployment")}
    assert {"kbridge-gateway", "kbridge-router"} <= set(deployments)
    for target in example_targets():
        dep = deployments[f"kbridge-sink-{target}"]
        assert dep["spec"]["template"]["spec"]["containers"][0]["args"] == ["sink", target]
    kafka_sources = [s["name"] for s in example_config()["sources"] if s["kind"] == "kafka"]
    for source in kafka_sources:
        assert f"kbridge-source-{source}" in deployments
    services = {s["metadata"]["name"]: s for s in by_kind("Service")}
    assert services["kbridge-gateway"]["spec"]["selector"].items() <= (
        deployments["kbridge-gateway"]["spec"]["template"]["metadata"]["labels"].items()
    )
    hpas = by_kind("HorizontalPodAutoscaler")
    assert [h["spec"]["scaleTargetRef"]["name"] for h in hpas] == ["kbridge-gateway"]
    for dep in deployments.values():
        pod = dep["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for c in pod["containers"]:
            assert c["image"].startswith("kbridge:")


def test_scaled_objects() -> None:
    deployments = {d["metadata"]["name"] for d in by_kind("Deployment")}
    scaled = {s["metadata"]["name"]: s for s in by_kind("ScaledObject")}
    assert set(scaled) == {"kbridge-router", *(f"kbridge-sink-{t}" for t in example_targets())}
    env = {c["metadata"]["name"]: c for c in generated_configmaps()}["kbridge-env"]["data"]
    for name, so in scaled.items():
        assert so["apiVersion"] == "keda.sh/v1alpha1"
        spec = so["spec"]
        assert set(spec) <= {"scaleTargetRef", "minReplicaCount", "maxReplicaCount",
                             "pollingInterval", "cooldownPeriod", "idleReplicaCount",
                             "fallback", "advanced", "triggers"}
        ref = spec["scaleTargetRef"]
        assert ref["kind"] == "Deployment" and ref["name"] in deployments and ref["name"] == name
        assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        [trigger] = spec["triggers"]
        assert trigger["type"] == "kafka"
        meta = trigger["metadata"]
        assert all(isinstance(v, str) for v in meta.values()), "KEDA metadata values are strings"
        assert int(meta["lagThreshold"]) > 0
        assert meta["bootstrapServers"] == env["KBRIDGE_KAFKA__BOOTSTRAP_SERVERS"]
        if name == "kbridge-router":
            assert meta["consumerGroup"] == "kbridge-router"
        else:
            target = name.removeprefix("kbridge-sink-")
            assert meta["consumerGroup"] == f"kbridge-sink-{target}"
            assert meta["topic"] == target_topic(target)
            # never more workers than partitions: extra ones would sit idle
            default = TargetBase.model_fields["partitions"].default
            partitions = next(
                t.get("partitions", default)
                for t in example_config()["targets"]
                if t["name"] == target
            )
            assert spec["maxReplicaCount"] <= partitions


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_secrets_are_referenced_never_inlined() -> None:
    assert not by_kind("Secret"), "create kbridge-secrets out of band; never commit one"
    assert "secretGenerator" not in kustomization()
    refs = [n["secretKeyRef"] for n in _walk(resources()) if "secretKeyRef" in n]
    assert refs and {r["name"] for r in refs} == {"kbridge-secrets"}
    for node in _walk(resources()):
        if "name" in node and "value" in node:  # a literal env var
            words = ("SECRET", "PASSWORD", "TOKEN", "URL")
            assert not any(w in node["name"].upper() for w in words)
    configmap_names = {g["name"] for g in kustomization()["configMapGenerator"]}
    for node in _walk(resources()):
        for key in ("configMapRef", "configMap"):
            if key in node:
                assert node[key]["name"] in configmap_names
