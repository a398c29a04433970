"""docker-compose.yml: `docker-compose config` accepts it, and it runs what the design needs."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml
from deploy_helpers import ROOT, example_config, example_targets, require_tool

COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The file as docker-compose resolves it (anchors, merges, ${VAR:-default})."""
    exe = require_tool("docker-compose", "apt-get install -y docker-compose")
    proc = subprocess.run(
        [exe, "-f", str(COMPOSE), "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    data: dict[str, Any] = yaml.safe_load(proc.stdout)
    return data


def services(resolved: dict[str, Any]) -> dict[str, Any]:
    svcs: dict[str, Any] = resolved["services"]
    return svcs


def test_kafka_is_the_official_image_in_kraft_mode(resolved: dict[str, Any]) -> None:
    kafka = services(resolved)["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert "broker" in env["KAFKA_PROCESS_ROLES"] and "controller" in env["KAFKA_PROCESS_ROLES"]
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert len(env["CLUSTER_ID"]) == 22  # a base64 UUID, as kafka-storage format wants


def test_mysql_8(resolved: dict[str, Any]) -> None:
    assert services(resolved)["mysql"]["image"].startswith("mysql:8")


def test_apply_job_publishes_the_example_before_the_workers_start(
    resolved: dict[str, Any],
) -> None:
    svcs = services(resolved)
    assert svcs["apply"]["command"] == ["apply", "-f", "/etc/kbridge/kbridge.yaml"]
    assert svcs["apply"]["restart"] == "no"
    for name in ["gateway", "router", *(f"sink-{t}" for t in example_targets())]:
        deps = svcs[name]["depends_on"]
        assert deps["apply"]["condition"] == "service_completed_successfully", name
        assert deps["kafka"]["condition"] == "service_healthy", name


def test_every_kbridge_service_uses_the_image_and_reaches_kafka(resolved: dict[str, Any]) -> None:
    for name, svc in services(resolved).items():
        if svc.get("build"):
            assert svc["build"]["dockerfile"] == "deploy/Dockerfile", name
            assert svc["environment"]["KBRIDGE_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092", name


def test_router_scales(resolved: dict[str, Any]) -> None:
    router = services(resolved)["router"]
    assert "container_name" not in router
    assert not router.get("ports"), "a host port would stop `--scale router=N`"
    assert router["deploy"]["replicas"] >= 1
    assert router["command"][0] == "router"


def test_one_sink_worker_per_target(resolved: dict[str, Any]) -> None:
    svcs = services(resolved)
    sinks = {n: s for n, s in svcs.items() if (s.get("command") or [None])[0] == "sink"}
    assert {s["command"][1] for s in sinks.values()} == set(example_targets())
    for name, svc in sinks.items():
        assert name == f"sink-{svc['command'][1]}"
        assert "container_name" not in svc


def test_kafka_sources_of_the_example_run(resolved: dict[str, Any]) -> None:
    kafka_sources = [
        s["name"] for s in example_config()["sources"] if s["kind"] not in ("token", "github")
    ]
    commands = [s.get("command") for s in services(resolved).values()]
    for name in kafka_sources:
        assert ["source", name] in commands


def test_mounted_files_exist(resolved: dict[str, Any]) -> None:
    for name, svc in services(resolved).items():
        for volume in svc.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if volume.get("type", "bind") == "bind" if isinstance(volume, dict) else "/" in source:
                assert (ROOT / source).exists(), (name, source)


def test_prometheus_scrapes_every_kbridge_process() -> None:
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    names = set()
    for job in prom["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            names.update(sd["names"])
    assert {"gateway", "router", *(f"sink-{t}" for t in example_targets())} <= names
    compose = yaml.safe_load(COMPOSE.read_text())
    assert names <= set(compose["services"])


def test_grafana_is_provisioned_with_the_dashboard(resolved: dict[str, Any]) -> None:
    grafana = services(resolved)["grafana"]
    targets = {
        (v["target"] if isinstance(v, dict) else v.split(":")[1]) for v in grafana["volumes"]
    }
    assert "/etc/grafana/provisioning" in targets
    assert "/var/lib/grafana/dashboards/kbridge.json" in targets
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/kbridge.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
